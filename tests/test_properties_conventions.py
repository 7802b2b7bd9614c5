"""The gain conventions R1-R4 and the canonical view agree with a direct computation on random norm
tables: several models of different depths, several prompts, rows in any order, ties in the gains."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from contract.conventions import (
    KEYS,
    all_conventions,
    canonical,
    hook_frobenius_all_tokens,
    hook_last_token,
    legacy_hs_penultimate,
    sublayer_vs_normed_input,
)

# small integers make equal norms (gains of exactly 1) and ties for the maximum common
NORM = st.integers(1, 6).map(float)
LONG_COLUMNS = KEYS + ["convention", "quantity", "value"]


@st.composite
def residual_tables(draw):
    """A residual table (layers -1..L per prompt) with random norms per view, and the norms by prompt:
    {(model, prompt_id): {view: array over layers -1..L}}."""
    rows, norms = [], {}
    for m in range(draw(st.integers(1, 3))):
        n_layers = draw(st.integers(2, 5))
        for p in range(draw(st.integers(1, 3))):
            views = {
                v: np.array(draw(st.lists(NORM, min_size=n_layers + 2, max_size=n_layers + 2)))
                for v in ("last", "mean", "frobenius")
            }
            norms[(f"m{m}", f"p{p}")] = views
            for i, layer in enumerate(range(-1, n_layers + 1)):
                site = "embedding" if layer == -1 else "final_norm" if layer == n_layers else "block"
                row = dict(model=f"m{m}", prompt_set="s", prompt_id=f"p{p}", n_tokens=4, site=site, layer=layer)
                for v, values in views.items():
                    row[f"norm_{v}"] = values[i]
                    row[f"gain_{v}"] = np.nan if i == 0 else values[i] / values[i - 1]
                rows.append(row)
    order = draw(st.permutations(range(len(rows))))
    return pd.DataFrame([rows[i] for i in order]), norms


def expected_values(norms: dict) -> dict[tuple[str, str, str], float]:
    """(convention, quantity, model/prompt) -> value, from the per-prompt norm arrays (index 0 = layer -1,
    index k = layer k - 1, index L + 1 = the final norm)."""
    out = {}
    for key, views in norms.items():
        last, mean, frob = views["last"], views["mean"], views["frobenius"]
        big_l = len(last) - 2
        x = lambda values, layer: values[layer + 1]  # noqa: E731 - layer -> index
        for view, values in (("last", last), ("mean", mean)):
            out[("canonical", f"gain_last_block_{view}", key)] = x(values, big_l - 1) / x(values, big_l - 2)
            out[("canonical", f"gain_penultimate_block_{view}", key)] = x(values, big_l - 2) / x(values, big_l - 3)
            out[("canonical", f"final_norm_ratio_{view}", key)] = x(values, big_l) / x(values, big_l - 1)
        out[("R1", "gain_no_ln", key)] = x(last, big_l - 2) / x(last, big_l - 3)
        out[("R1", "gain_with_ln", key)] = x(last, big_l) / x(last, big_l - 2)
        out[("R2", "last_gain", key)] = x(last, big_l - 1) / x(last, big_l - 2)
        out[("R2", "total_amp", key)] = x(last, big_l - 1) / x(last, 0)
        block_gains = [x(frob, b) / x(frob, b - 1) for b in range(big_l)]  # x_0/e, x_1/x_0, ..., x_{L-1}/x_{L-2}
        out[("R3", "initial_gain", key)] = block_gains[0]
        out[("R3", "last_gain", key)] = block_gains[-1]
        out[("R3", "max_gain", key)] = max(block_gains)
        out[("R3", "contracting_pct", key)] = 100 * sum(g < 1 for g in block_gains) / big_l
        out[("R3", "final_cumulative", key)] = x(frob, big_l - 1) / x(frob, -1)
    return out


def _as_dict(frame: pd.DataFrame) -> dict[tuple[str, str, tuple[str, str]], float]:
    return {
        (c, q, (m, p)): v
        for c, q, m, p, v in zip(
            frame["convention"], frame["quantity"], frame["model"], frame["prompt_id"], frame["value"]
        )
    }


def _measured(frame: pd.DataFrame, convention: str, norms: dict) -> dict:
    """The values of the measured prompts; the frame's layout is checked on the way, and it holds no row for
    a (model, prompt) pair that was not measured."""
    assert list(frame.columns) == LONG_COLUMNS
    assert frame.index.equals(pd.RangeIndex(len(frame)))
    assert (frame["convention"] == convention).all()
    values = _as_dict(frame)
    assert {k[2] for k in values} <= set(norms)
    return values


@given(residual_tables())
def test_residual_conventions_agree_with_a_direct_computation(table):
    residual, norms = table
    expected = expected_values(norms)
    frames = {
        "canonical": canonical(residual),
        "R1": legacy_hs_penultimate(residual),
        "R2": hook_last_token(residual),
        "R3": hook_frobenius_all_tokens(residual),
    }
    for convention, frame in frames.items():
        got = _measured(frame, convention, norms)
        want = {k: v for k, v in expected.items() if k[0] == convention}
        assert got.keys() == want.keys(), convention
        for key, value in want.items():
            assert np.isclose(got[key], value, rtol=1e-12), (key, got[key], value)
    stacked = all_conventions(residual)
    assert list(stacked.columns) == LONG_COLUMNS and stacked.index.equals(pd.RangeIndex(len(stacked)))
    got = {k: v for k, v in _as_dict(stacked).items() if k[2] in norms}
    assert got.keys() == expected.keys()
    assert np.allclose([got[k] for k in expected], list(expected.values()), rtol=1e-12)


@given(st.lists(st.tuples(NORM, NORM, NORM, NORM), min_size=1, max_size=8))
def test_r4_is_the_ratio_of_mean_norms_per_sublayer(values):
    rows = [
        dict(
            model="m",
            prompt_set="s",
            prompt_id=f"p{i // 2}",
            layer=i % 2,
            sublayer=sublayer,
            norm_in_mean=a,
            norm_out_mean=b,
            norm_in_last=c,
            norm_out_last=d,
        )
        for i, (a, b, c, d) in enumerate(values)
        for sublayer in ("attention", "mlp")
    ]
    sublayers = pd.DataFrame(rows)
    r4 = sublayer_vs_normed_input(sublayers)
    assert list(r4.columns) == KEYS + ["layer", "convention", "quantity", "value"]
    assert (r4["convention"] == "R4").all()
    assert list(r4["quantity"]) == [f"{s}_gain" for s in sublayers["sublayer"]]
    assert list(r4["layer"]) == list(sublayers["layer"])
    np.testing.assert_array_equal(r4["value"], sublayers["norm_out_mean"] / sublayers["norm_in_mean"])
