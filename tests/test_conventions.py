"""The legacy gain conventions R1-R4 and the canonical view, from planted per-block gains."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from claims_fixtures import residual_rows

from contract.conventions import (
    canonical,
    hook_frobenius_all_tokens,
    hook_last_token,
    legacy_hs_penultimate,
    sublayer_vs_normed_input,
)

L = 6
BLOCK_GAINS = [5.0, 1.1, 1.2, 0.9, 1.3, 0.7]  # block 0 (from the embedding) .. block L-1
FINAL = 0.1  # the final norm's output relative to the last block's


@pytest.fixture
def residual():
    rows = residual_rows("m", L, [BLOCK_GAINS[-1]], block_gain=BLOCK_GAINS[1:-1], first_gain=BLOCK_GAINS[0])
    return pd.DataFrame(rows)


def values(frame: pd.DataFrame) -> dict[str, float]:
    return dict(zip(frame["quantity"], frame["value"]))


def test_r1_is_the_penultimate_block_and_mixes_the_final_norm(residual):
    r1 = values(legacy_hs_penultimate(residual))
    assert r1["gain_no_ln"] == pytest.approx(BLOCK_GAINS[L - 2])  # x_{L-2} / x_{L-3}, not the last block
    assert r1["gain_with_ln"] == pytest.approx(BLOCK_GAINS[L - 1] * FINAL)  # F(x_{L-1}) / x_{L-2}


def test_r2_and_canonical_are_the_last_block(residual):
    r2 = values(hook_last_token(residual))
    assert r2["last_gain"] == pytest.approx(BLOCK_GAINS[-1])
    assert r2["total_amp"] == pytest.approx(np.prod(BLOCK_GAINS[1:]))  # x_{L-1} / x_0, block 0 excluded
    view = values(canonical(residual))
    assert view["gain_last_block_last"] == pytest.approx(BLOCK_GAINS[-1])
    assert view["gain_penultimate_block_last"] == pytest.approx(BLOCK_GAINS[-2])
    assert view["final_norm_ratio_last"] == pytest.approx(FINAL)


def test_r3_summaries(residual):
    r3 = values(hook_frobenius_all_tokens(residual))
    assert r3["initial_gain"] == pytest.approx(BLOCK_GAINS[0])
    assert r3["last_gain"] == pytest.approx(BLOCK_GAINS[-1])
    assert r3["max_gain"] == pytest.approx(max(BLOCK_GAINS))
    assert r3["contracting_pct"] == pytest.approx(100 * 2 / L)
    assert r3["final_cumulative"] == pytest.approx(np.prod(BLOCK_GAINS))


def test_r4_is_a_ratio_of_mean_norms():
    sublayers = pd.DataFrame(
        {
            "model": "m",
            "prompt_set": "s",
            "prompt_id": "p",
            "layer": [0, 0],
            "sublayer": ["attention", "mlp"],
            "norm_in_mean": [2.0, 4.0],
            "norm_out_mean": [1.0, 10.0],
            "norm_in_last": 1.0,
            "norm_out_last": 1.0,
        }
    )
    r4 = sublayer_vs_normed_input(sublayers)
    assert dict(zip(r4["quantity"], r4["value"])) == {"attention_gain": 0.5, "mlp_gain": 2.5}
