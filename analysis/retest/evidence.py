"""What the published data say about a new model: each law fitted on, or counted over, the authors' panel.

Every quantity is computed once per card from the published source with the claim modules' own
selections (the same notebooks, conventions and model sets as the panel claims), so a card line and
the claim it checks read the same published numbers. Without published data every accessor raises
``NotApplicable`` saying how to import them.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf


from analysis.claims.crowding import final_norm_table, rule_table
from analysis.claims.heritage import heritage_gains
from analysis.claims.hierarchy import HIERARCHY
from analysis.claims.kleiber import pythia_gains, total_gains
from analysis.claims.lstar import prediction_errors
from analysis.claims.registry import InsufficientData, Settings
from analysis.claims.spectral import published_restriction_maps
from analysis.retest.rows import DAMPEN, NotApplicable
from analysis.sources import PublishedSource

NOT_IMPORTED = ("the published data are not imported (thermo-audit measure import-published "
                "../shared/paper3/Results)")


def _published_only(function):
    """Turn a claim helper's InsufficientData into NotApplicable, and refuse without published data."""

    def wrapped(self):
        if not self.published.available:
            raise NotApplicable(NOT_IMPORTED)
        try:
            return function(self)
        except InsufficientData as why:
            raise NotApplicable(f"published data: {why}") from None

    wrapped.__doc__ = function.__doc__
    return cached_property(wrapped)


class Evidence:
    """The published panel's side of every card line."""

    def __init__(self, published: PublishedSource, settings: Settings):
        self.published, self.settings = published, settings
        self._kleiber_fits: dict[str, object] = {}

    @property
    def alpha(self) -> float:
        """1 - confidence: the two-sided level of every prediction interval."""
        return 1 - self.settings.confidence

    @_published_only
    def pythia(self) -> pd.DataFrame:
        """Per Pythia model of PFS: mean R1 gain over its 25 prompts, with n_layers and rho (kleiber_*_r)."""
        return pythia_gains(self.published)

    def kleiber_fit(self, x: str):
        """OLS gain ~ x over the Pythia models (statsmodels results)."""
        if x not in self._kleiber_fits:
            self._kleiber_fits[x] = smf.ols(f"gain ~ {x}", data=self.pythia).fit()
        return self._kleiber_fits[x]

    def kleiber_prediction(self, x: str, values) -> pd.DataFrame:
        """Predicted mean gain and the prediction interval for new models at ``x`` = values
        (columns mean, obs_ci_lower, obs_ci_upper of statsmodels' summary_frame)."""
        frame = self.kleiber_fit(x).get_prediction(pd.DataFrame({x: np.atleast_1d(values).astype(float)}))
        return frame.summary_frame(alpha=self.alpha)

    @_published_only
    def total_gains(self) -> pd.DataFrame:
        """Per published model: geometric mean over prompts of the R2 total gain x_{L-1}/x_0, with facts."""
        rows = total_gains(self.published)
        means = rows.groupby("model", as_index=False)["total_gain"].agg(lambda g: 10 ** np.log10(g).mean())
        return self.published.with_facts(means)

    @_published_only
    def pythia_blocks(self) -> pd.DataFrame:
        """PFS's per-block R1 gains (blocks 1..L-2, mean over prompts) of the Pythia models, with facts."""
        rows = self.published.get("layer_gain", notebook="PFS", aggregate="mean")
        rows = rows[rows["layer"] >= 1].rename(columns={"value": "gain"})
        return self.published.with_facts(rows[["model", "layer", "gain"]])

    @_published_only
    def heritage(self) -> pd.DataFrame:
        """HRH's models (instruct twins left out): R1 mean gain, sign, lab and heritage (heritage_* claims)."""
        return heritage_gains(self.published)

    @_published_only
    def crowding(self) -> pd.DataFrame:
        """Every published model with an R1 gain (HRH, then PFS, then CRG): rho, sign, the rule's sign."""
        return rule_table(self.published)

    @_published_only
    def final_norm(self) -> pd.DataFrame:
        """HRH's models with and without the final norm, and whether the rho rule is right each way."""
        return final_norm_table(self.published)

    @_published_only
    def signature(self) -> pd.DataFrame:
        """The restriction-map models (W_V Mean / W_O Mean, notebook "CSV") with their gain sign."""
        norms = published_restriction_maps(self.published).assign(ratio=lambda d: d["wv_spectral"] / d["wo"])
        data = norms.merge(self.published.model_signs()[["model", "gain", "sign", "notebook"]], on="model")
        data["log_ratio"] = np.log10(data["ratio"])
        data["dampens"] = (data["sign"] == DAMPEN).astype(float)
        if data["dampens"].nunique() < 2:
            raise NotApplicable("the published signature models are all of one sign: no classifier")
        return data

    @cached_property
    def signature_classifier(self):
        """Logistic regression (binomial GLM) of dampening on log10(||W_V|| / ||W_O||) over ``signature``."""
        return smf.glm("dampens ~ log_ratio", data=self.signature, family=sm.families.Binomial()).fit()

    @_published_only
    def lstar_calibration(self) -> pd.DataFrame:
        """H4V2's L* (argmax |gradient| of the multi-head trace, the definition our L* uses; the formula's
        calibration targets) with the formula's prediction and signed depth-normalised residual."""
        rows = self.published.get("l_star_trace", notebook="H4V2", aggregate="value")
        rows = rows.rename(columns={"value": "l_star"})
        if len(rows) < 3:
            raise NotApplicable("published data: fewer than 3 H4V2 L* values")
        data = prediction_errors(self.published.with_facts(rows[["model", "l_star"]]))
        return data.assign(residual=(data["l_star"] - data["formula"]) / data["n_layers"])

    @_published_only
    def lstar_cross(self) -> pd.DataFrame:
        """LSC v3's cross-heritage L* (sign change of the printed eq. 4) with the formula's errors."""
        rows = self.published.get("l_star_sign_change", notebook="LSC", aggregate="mean")
        rows = rows.rename(columns={"value": "l_star"})[["model", "l_star"]]
        return prediction_errors(self.published.with_facts(rows))

    @_published_only
    def hierarchy(self) -> pd.Series:
        """GUB's mean R2 gain of the four hierarchy models, in the claimed order."""
        rows = self.published.get("gain_last_block", notebook="GUB", aggregate="value")
        means = rows.groupby("model")["value"].mean()
        missing = sorted(set(HIERARCHY) - set(means.index))
        if missing:
            raise NotApplicable(f"published data: GUB lacks {', '.join(missing)}")
        return means[list(HIERARCHY)]

    @_published_only
    def r2_gains(self) -> pd.DataFrame:
        """Per published model with per-prompt R2 gains (GUB, then TWN, G2L, GJP): mean gain and facts."""
        frames = [self.published.get("gain_last_block", notebook=nb, aggregate="value")
                  for nb in ("GUB", "TWN", "G2L", "GJP")]
        rows = pd.concat(frames, ignore_index=True)
        rows = rows[rows["notebook"] == rows.groupby("model")["notebook"].transform("first")]
        means = rows.groupby("model", as_index=False)["value"].mean().rename(columns={"value": "gain"})
        return self.published.with_facts(means)

    @_published_only
    def twins(self) -> pd.DataFrame:
        """TWN's base/instruct pairs: per pair the base and instruct mean R2 gains (bf16, GU25)."""
        rows = self.published.get("gain_last_block", notebook="TWN", aggregate="value")
        means = self.published.with_facts(rows.groupby("model", as_index=False)["value"].mean())
        instruct = means.dropna(subset=["twin_of"])
        pairs = instruct.merge(means[["model", "value"]], left_on="twin_of", right_on="model",
                               suffixes=("_instruct", "_base"))
        return pairs.rename(columns={"twin_of": "base", "model_instruct": "instruct", "value_base": "base_gain",
                                     "value_instruct": "instruct_gain"})[["base", "instruct", "base_gain",
                                                                         "instruct_gain"]]
