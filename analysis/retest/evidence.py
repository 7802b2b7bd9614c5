"""What the published data say about a new model: each law fitted on, or counted over, the authors' panel.

Every card line reads the published data of the claim it checks (``Claim.data``: the claim's own
dataset from ``analysis.sources``, with the claim's minima checked), so a card line and its panel
claim read the same published numbers. Each dataset is read once per card. Without published data,
or with too few of them, an accessor raises ``NotApplicable`` saying so.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf

from analysis.claims import CLAIMS, InsufficientData, Settings
from analysis.claims.crowding import final_norm_correct, with_rule
from analysis.claims.lstar import prediction_errors
from analysis.claims.twins import pair_summary
from analysis.needs import Dataset
from analysis.retest.rows import DAMPEN, NotApplicable
from analysis.sources import HIERARCHY, PublishedSource

NOT_IMPORTED = "the published data are not imported (thermo-audit measure import-published ../shared/paper3/Results)"


class Evidence:
    """The published panel's side of every card line."""

    def __init__(self, published: PublishedSource, settings: Settings):
        self.published, self.settings = published, settings
        self._data: dict[str, Dataset] = {}
        self._kleiber_fits: dict[str, object] = {}

    @property
    def alpha(self) -> float:
        """1 - confidence: the two-sided level of every prediction interval."""
        return 1 - self.settings.confidence

    def data(self, claim_id: str) -> Dataset:
        """The published data of claim ``claim_id``, its minima checked; NotApplicable saying what is missing."""
        if not self.published.available:
            raise NotApplicable(NOT_IMPORTED)
        if claim_id not in self._data:
            try:
                self._data[claim_id] = CLAIMS[claim_id].data(self.published)
            except InsufficientData as why:
                raise NotApplicable(f"published data: {why}") from None
        return self._data[claim_id]

    @property
    def pythia(self) -> pd.DataFrame:
        """Per Pythia model of PFS: mean R1 gain over its 25 prompts, with n_layers and rho (kleiber_*_r)."""
        return self.data("kleiber_depth_r").frame

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

    @cached_property
    def total_gains(self) -> pd.DataFrame:
        """Per published model (instruct twins of models in the data left out): geometric mean over prompts
        of the R2 total gain x_{L-1}/x_0, with facts."""
        rows = self.data("kleiber_total_gain").frame
        means = rows.groupby("model", as_index=False)["total_gain"].agg(lambda g: 10 ** np.log10(g).mean())
        return self.published.with_facts(means)

    @property
    def pythia_blocks(self) -> pd.DataFrame:
        """PFS's per-block R1 gains (blocks 1..L-2, mean over prompts) of the Pythia models, with facts."""
        return self.data("kleiber_gmax_bound").frame

    @property
    def heritage(self) -> pd.DataFrame:
        """HRH's models (instruct twins left out): R1 mean gain, sign, lab and heritage (heritage_* claims)."""
        return self.data("heritage_dampen_share").frame

    @cached_property
    def crowding(self) -> pd.DataFrame:
        """Every published model with an R1 gain (HRH, then PFS, then CRG): rho, sign, the rule's sign."""
        return with_rule(self.data("crowding_rule").frame)

    @cached_property
    def final_norm(self) -> pd.DataFrame:
        """HRH's models with and without the final norm, and whether the rho rule is right each way."""
        return final_norm_correct(self.data("final_ln_accuracy").frame)

    @cached_property
    def signature(self) -> pd.DataFrame:
        """The restriction-map models (W_V Mean / W_O Mean, notebook "CSV") with their gain sign."""
        data = self.data("spectral_ratio_predicts_sign").frame
        ratio = data["wv_spectral"] / data["wo_spectral"]
        return data.assign(ratio=ratio, log_ratio=np.log10(ratio), dampens=(data["sign"] == DAMPEN).astype(float))

    @cached_property
    def signature_classifier(self):
        """Logistic regression (binomial GLM) of dampening on log10(||W_V|| / ||W_O||) over ``signature``."""
        return smf.glm("dampens ~ log_ratio", data=self.signature, family=sm.families.Binomial()).fit()

    @cached_property
    def lstar_calibration(self) -> pd.DataFrame:
        """H4V2's L* (argmax |gradient| of the multi-head trace, the definition our L* uses; the formula's
        calibration targets) with the formula's prediction and signed depth-normalised residual."""
        rows = self.data("lstar_formula").extras["calibration"]
        if len(rows) < 3:
            raise NotApplicable("published data: fewer than 3 H4V2 L* values")
        data = prediction_errors(rows)
        return data.assign(residual=(data["l_star"] - data["formula"]) / data["n_layers"])

    @cached_property
    def lstar_cross(self) -> pd.DataFrame:
        """LSC v3's cross-heritage L* (sign change of the printed eq. 4) with the formula's errors."""
        return prediction_errors(self.data("lstar_formula").frame)

    @cached_property
    def hierarchy(self) -> pd.Series:
        """GUB's mean R2 gain of the four hierarchy models, in the claimed order."""
        return self.data("hierarchy").frame.groupby("model")["gain"].mean()[list(HIERARCHY)]

    @cached_property
    def r2_gains(self) -> pd.DataFrame:
        """Per published model with per-prompt R2 gains (GUB, then TWN, G2L, GJP): mean gain and facts."""
        if not self.published.available:
            raise NotApplicable(NOT_IMPORTED)
        means = self.published.r2_prompt_gains().groupby("model", as_index=False)["gain"].mean()
        return self.published.with_facts(means)

    @cached_property
    def twins(self) -> pd.DataFrame:
        """TWN's base/instruct pairs: per pair the base and instruct mean R2 gains (``base``, ``instruct``)."""
        return pair_summary(self.data("twin_sign").frame, self.settings.alpha)
