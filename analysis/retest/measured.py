"""What a card needs of one measured model, with non-finite data left out and said.

Every view is on one prompt set (the model's preferred one, see ``MeasuredSource.prompt_set_for``,
unless the caller names one). Prompts with non-finite activations (``nonfinite_tokens`` > 0) and
non-finite values (e.g. a zero norm) are left out; a view with no finite prompt left raises
``NotApplicable`` naming what is missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.stats

from analysis.needs import InsufficientData
from analysis.retest.rows import NotApplicable, sign_of
from analysis.sources import MeasuredSource, pythia_family
from analysis.transition import steepest

# (convention, quantity) of ``contract.conventions`` and how a card names it.
R1_GAIN = ("R1", "gain_no_ln")
R1_WITH_NORM = ("R1", "gain_with_ln")
R2_GAIN = ("R2", "last_gain")
R2_TOTAL = ("R2", "total_amp")
LABELS = {
    R1_GAIN: "R1: penultimate block x_{L-2}/x_{L-3}, last token",
    R1_WITH_NORM: "R1 with the final norm: F(x_{L-1})/x_{L-2}, last token",
    R2_GAIN: "R2: true last block x_{L-1}/x_{L-2}, last token",
    R2_TOTAL: "R2 total amplification x_{L-1}/x_0, last token",
}


@dataclass(frozen=True)
class Summary:
    """Per-prompt values of one quantity: mean, t CI over prompts, and what was left out."""

    values: pd.Series = field(repr=False)  # indexed by prompt_id
    n_measured: int
    confidence: float

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    @cached_property
    def ci(self) -> tuple[float, float]:
        """Two-sided t CI of the mean over prompts, mean +- t_(n-1) SD / sqrt(n) (NaN with fewer than 2)."""
        if self.n < 2:
            return math.nan, math.nan
        half = scipy.stats.t.ppf((1 + self.confidence) / 2, self.n - 1) * self.values.std(ddof=1) / math.sqrt(self.n)
        return self.mean - half, self.mean + half

    @property
    def sign(self) -> str:
        return sign_of(self.mean)

    @property
    def sign_resolved(self) -> bool:
        """Whether the CI over prompts lies on one side of 1."""
        low, high = self.ci
        return (high < 1) or (low >= 1)

    def describe(self, digits: int = 4) -> str:
        low, high = self.ci
        text = f"{self.mean:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}] over {self.n} prompts"
        left_out = self.n_measured - self.n
        return text + (f" ({left_out} of {self.n_measured} left out: non-finite)" if left_out else "")


class ModelData:
    """One model of a measured source on one prompt set."""

    def __init__(self, source: MeasuredSource, model: str, confidence: float, prompt_set: str | None = None):
        self.source, self.model, self.confidence = source, model, confidence
        self.facts = source.models.set_index("model").loc[model]
        self.prompt_set = prompt_set or source.prompt_set_for([model])

    @property
    def n_layers(self) -> int:
        return int(self.facts["n_layers"])

    @property
    def is_pythia(self) -> bool:
        """Whether the model is of the Pythia family (GPT-NeoX by EleutherAI, ``analysis.sources.pythia_family``)."""
        return self.model in set(pythia_family(self.source.models)["model"])

    def fact(self, name: str):
        """A model fact, or None where it is missing (NaN)."""
        value = self.facts.get(name)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else value

    def _require_prompt_set(self) -> str:
        if self.prompt_set is None:
            raise NotApplicable(f"{self.model} has no residual measurements")
        residual = self.source.tables["residual"]
        if not ((residual["model"] == self.model) & (residual["prompt_set"] == self.prompt_set)).any():
            raise NotApplicable(f"{self.model} has no residual measurements on prompt set {self.prompt_set}")
        return self.prompt_set

    @cached_property
    def n_prompts(self) -> int:
        """Prompts measured (finite or not) on the prompt set."""
        residual = self.source.tables["residual"]
        rows = residual[(residual["model"] == self.model) & (residual["prompt_set"] == self.prompt_set)]
        return int(rows["prompt_id"].nunique())

    def summary(self, view: tuple[str, str]) -> Summary:
        """Per-prompt values of a convention view (``R1_GAIN``, ``R2_GAIN``, ...), finite only."""
        prompt_set = self._require_prompt_set()
        convention, quantity = view
        rows = self.source.prompt_gains([self.model], quantity=quantity, convention=convention, prompt_set=prompt_set)
        values = rows.set_index("prompt_id")["gain"].astype(float)  # finite values of clean prompts only
        if values.empty:
            raise NotApplicable(
                f"no finite {LABELS.get(view, quantity)} for {self.model} on {prompt_set} "
                f"({self.n_prompts} prompts measured, every one non-finite)"
            )
        return Summary(values, self.n_prompts, self.confidence)

    def block_gains(self, column: str = "gain_last", first: int = 1, last: int | None = None) -> pd.DataFrame:
        """Per block b = first..last (default 1..L-1: block 0, the step from the embedding, is left out as
        in kleiber_gmax_bound): the mean over finite prompts of ``column`` (default x_b / x_{b-1}, last
        token), its t CI, and the number of prompts."""
        prompt_set = self._require_prompt_set()
        last = self.n_layers - 1 if last is None else last
        residual = self.source.tables["residual"]
        rows = residual[(residual["model"] == self.model) & (residual["prompt_set"] == prompt_set)]
        clean = rows.groupby("prompt_id")["nonfinite_tokens"].transform("sum") == 0
        blocks = rows[clean & (rows["site"] == "block") & rows["layer"].between(first, last)]
        blocks = blocks[np.isfinite(blocks[column].astype(float))]
        if blocks.empty:
            raise NotApplicable(f"no finite per-block {column} for {self.model} on {prompt_set}")
        out = []
        for layer, group in blocks.groupby("layer"):
            summary = Summary(group.set_index("prompt_id")[column].astype(float), self.n_prompts, self.confidence)
            out.append(
                {
                    "layer": int(layer),
                    "gain": summary.mean,
                    "ci_low": summary.ci[0],
                    "ci_high": summary.ci[1],
                    "n_prompts": summary.n,
                }
            )
        return pd.DataFrame(out)

    def head_ratio(self) -> float:
        """Mean per-head ||W_V^h||_2 over mean per-head ||W_O^h||_2, from the norms spectral_ratio_predicts_sign
        reads (the source's ``weight_norms`` dataset: models with a non-finite norm are left out)."""
        try:
            norms = self.source.dataset("weight_norms")
        except InsufficientData as why:
            raise NotApplicable(str(why)) from None
        found = norms.frame[norms.frame["model"] == self.model]
        if found.empty:
            why = norms.left_out.get(self.model, "none in the heads table")
            raise NotApplicable(f"no per-head weight norms for {self.model} ({why})")
        wv, wo = found.iloc[0][["wv_spectral", "wo_spectral"]].astype(float)
        if not (wv > 0 and wo > 0):
            raise NotApplicable(f"zero head norms for {self.model}")
        return float(wv / wo)

    def traces(self) -> tuple[pd.DataFrame, str]:
        """Prompt x layer multi-head traces sum_h (T - tr A_h) ||W_V^h||_F^2 (rows: finite prompts, columns:
        layers) on the first preferred prompt set with attention statistics, and that prompt set."""
        try:
            traces = self.source.layer_traces([self.model])
        except InsufficientData as why:
            raise NotApplicable(f"{why} (measure with attention statistics)") from None
        wide = traces.pivot(index="prompt_id", columns="layer", values="trace").sort_index(axis=1)
        wide = wide[np.isfinite(wide.to_numpy(float)).all(axis=1)]
        if wide.shape[0] == 0 or wide.shape[1] < 2:
            raise NotApplicable(f"no finite multi-head traces over at least 2 layers for {self.model}")
        return wide, str(traces["prompt_set"].iloc[0])

    def transition_layer(self, n_resamples: int, seed: int) -> dict:
        """L* as lstar_formula defines it on our data (argmax over layers of |np.gradient| of the
        prompt-mean multi-head trace) with a percentile bootstrap interval over prompts: keys l_star,
        low, high, n_prompts, prompt_set."""
        wide, prompt_set = self.traces()
        traces = wide.to_numpy(float)
        n = traces.shape[0]
        # a bootstrap resample of prompts is a multinomial count per prompt: its mean trace is counts @ traces / n
        counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=n_resamples)
        boot = steepest(counts @ traces / n)
        tail = (1 - self.confidence) / 2
        low, high = np.quantile(boot, [tail, 1 - tail])
        return {
            "l_star": int(steepest(traces.mean(axis=0))),
            "low": float(low),
            "high": float(high),
            "n_prompts": traces.shape[0],
            "prompt_set": prompt_set,
        }
