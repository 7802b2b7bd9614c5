"""Every law of the paper that predicts something for a single model, as one check per card line.

A check ``f(row, model, context)`` fills a ``CardRow``: the law's prediction for this model with the
law's own uncertainty (from ``Evidence``, the published panel), the model's measured value in the
convention the law was stated in (R1 for the Kleiber and heritage laws, R2 for the hierarchy and
twins), and the verdict. It raises ``NotApplicable`` (after filling what it could) when the law makes
no prediction for this model or the data to check it are missing.

Verdict rules, the same for every line: a numeric prediction is consistent when the measured value
(a mean over prompts, as the published points are) lies inside the law's interval; a bound when no
block's mean gain exceeds it; a sign when the measured mean gain is on the predicted side of 1
(strict, as the paper), the note saying whether the model's CI over prompts resolves the sign.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from analysis.claims.crowding import RHO_CRIT
from analysis.needs import InsufficientData
from analysis.retest.measured import LABELS, R1_GAIN, R1_WITH_NORM, R2_GAIN, R2_TOTAL, ModelData, Summary
from analysis.retest.rows import DAMPEN, EXPAND, CardRow, NotApplicable, join, verdict, within
from analysis.sources import HERITAGE_LAB, HIERARCHY
from analysis.stats import bootstrap_ci, wilson_ci
from analysis.transition import formula
from contract.vocab import CARD_SIGN_QUANTITY

# The paper states no tolerance for "total gain ~ 10"; kleiber_total_gain accepts a factor sqrt(10).
TOTAL_GAIN, TOTAL_TOLERANCE = 10.0, math.sqrt(10)
MAGNITUDE_CHANGE = 0.5  # "fine-tuning changes the magnitude (by up to 50%) but never the sign"
SCALES_DIFFER = (
    "scales differ: the published W_V is the full matrix (mis-sliced for Pythia and BLOOM) and W_O a "
    "norm of unknown kind; ours are per-head means"
)
R1_TEXT, R2_TEXT = LABELS[R1_GAIN], LABELS[R2_GAIN]


@dataclass(frozen=True)
class Law:
    """One card line: the claim it checks, how it is labelled, and its check."""

    claim_id: str
    law: str
    convention: str
    quantity: str
    check: Callable

    def row(self, model: ModelData, context) -> CardRow:
        row = CardRow(self.claim_id, self.law, self.convention, self.quantity)
        try:
            self.check(row, model, context)
        except (NotApplicable, InsufficientData) as why:
            row.consistent, row.note = "not applicable", join(str(why), row.note)
        except Exception as error:  # noqa: BLE001 (one law's failure is its line's verdict, never the card's end)
            row.consistent, row.note = "error", join(f"{type(error).__name__}: {error}", row.note)
        return row


def _percent(confidence: float) -> str:
    return f"{100 * confidence:g}%"


def _fill_measured(row: CardRow, summary: Summary) -> None:
    row.measured, (row.measured_low, row.measured_high) = summary.mean, summary.ci


def _fill_sign(row: CardRow, summary: Summary) -> str:
    """Measured sign, mean gain and CI over prompts; a note saying whether the CI resolves the sign."""
    row.measured_sign = summary.sign
    _fill_measured(row, summary)
    resolved = "resolved" if summary.sign_resolved else "not resolved: the CI contains 1"
    return f"measured mean gain {summary.describe()}, {summary.sign} ({resolved})"


def _share(rows, sign: str, confidence: float) -> tuple[float, float, float, str]:
    k, n = int((rows["sign"] == sign).sum()), len(rows)
    if n == 0:
        raise NotApplicable("no published model to estimate the law's rate from")
    ci = wilson_ci(k, n, confidence).iloc[0]
    return k / n, float(ci["ci_low"]), float(ci["ci_high"]), f"{k}/{n}"


def both(*parts: Callable[[], None]) -> None:
    """Run every part of a check (the prediction, the measurement), so that each fills what it can;
    then raise NotApplicable with the reasons of the parts that could not."""
    reasons = []
    for part in parts:
        try:
            part()
        except NotApplicable as why:
            reasons.append(str(why))
    if reasons:
        raise NotApplicable("; ".join(reasons))


def kleiber(x: str, name: str) -> Callable:
    """Gain predicted from ``x`` by OLS over the published Pythia models (PFS, R1), with its prediction interval."""

    def check(row: CardRow, model: ModelData, context) -> None:
        evidence = context.evidence
        value = model.fact(x)

        def predict():
            if value is None:
                raise NotApplicable(f"the model's {name} is unknown")
            prediction = evidence.kleiber_prediction(x, value).iloc[0]
            row.predicted, row.pi_low, row.pi_high = (
                float(prediction[c]) for c in ("mean", "obs_ci_lower", "obs_ci_upper")
            )
            data, fit = evidence.pythia, evidence.kleiber_fit(x)
            row.note = join(
                row.note,
                f"OLS gain ~ {x} over {len(data)} published Pythia models (PFS, R1, fp16, 25 "
                f"prompts): slope {fit.params[x]:.3g}, {_percent(evidence.settings.confidence)} "
                f"prediction interval at {x} = {value:g}",
            )
            if not data[x].min() <= value <= data[x].max():
                row.note = join(
                    row.note,
                    f"{x} lies outside the fitted range [{data[x].min():g}, {data[x].max():g}]: an extrapolation",
                )
            if not model.is_pythia:
                row.note = join(
                    row.note,
                    f"the fit is of the Pythia family; this model is {model.fact('lab')} {model.fact('family')}",
                )

        def measure():
            summary = model.summary(R1_GAIN)
            _fill_measured(row, summary)
            row.note = join(row.note, f"measured {summary.describe()}")

        both(predict, measure)
        row.consistent = verdict(within(row.measured, row.pi_low, row.pi_high))

    return check


def gmax_bound(row: CardRow, model: ModelData, context) -> None:
    """Every block b = 1..L-1 against G_max = 10^(1/L); the measured value is the largest block's mean gain."""
    bound = 10 ** (1 / model.n_layers)
    row.predicted, row.pi_high = bound, bound
    blocks = model.block_gains()
    worst = blocks.loc[blocks["gain"].idxmax()]
    row.measured, row.measured_low, row.measured_high = worst["gain"], worst["ci_low"], worst["ci_high"]
    above = blocks[blocks["gain"] > bound]
    clearly = blocks[blocks["ci_low"] > bound]
    listed = ", ".join(f"{int(r.layer)} ({r.gain:.3f})" for r in above.head(8).itertuples())
    more = f" and {len(above) - 8} more" if len(above) > 8 else ""
    row.consistent = verdict(above.empty)
    row.note = join(
        f"{len(above)} of {len(blocks)} blocks (1..L-1, mean over prompts) exceed 10^(1/L) = {bound:.4f}"
        + (f": blocks {listed}{more}" if len(above) else ""),
        f"{len(clearly)} with the whole CI above the bound" if len(above) else None,
        f"largest: block {int(worst['layer'])}, {worst['gain']:.4f}",
    )


def total_gain(row: CardRow, model: ModelData, context) -> None:
    """The total gain over the blocks x_{L-1}/x_0 (geometric mean over prompts) against 10."""
    row.predicted = TOTAL_GAIN
    row.pi_low, row.pi_high = TOTAL_GAIN / TOTAL_TOLERANCE, TOTAL_GAIN * TOTAL_TOLERANCE
    row.note = "the paper states no tolerance; the interval is the factor sqrt(10) that kleiber_total_gain accepts"
    try:
        published = context.evidence.total_gains["total_gain"]
        row.note = join(
            row.note,
            f"published models (R2): {published.min():.3g} to {published.max():.3g}, geometric "
            f"mean {10 ** np.log10(published).mean():.3g} over {len(published)} models",
        )
    except NotApplicable:
        pass
    raw = model.summary(R2_TOTAL)
    positive = raw.values[raw.values > 0]
    if positive.empty:
        raise NotApplicable("no positive total gain to take a logarithm of")
    logs = Summary(np.log10(positive), raw.n_measured, raw.confidence)
    row.measured = 10**logs.mean
    row.measured_low, row.measured_high = (10**v for v in logs.ci)
    row.consistent = verdict(within(row.measured, row.pi_low, row.pi_high))
    row.note = join(row.note, f"measured geometric mean over {logs.n} prompts, t CI on log10")


def _sign_measure(row: CardRow, model: ModelData) -> Callable[[], None]:
    def measure():
        row.note = join(row.note, _fill_sign(row, model.summary(R1_GAIN)))

    return measure


def heritage_sign(row: CardRow, model: ModelData, context) -> None:
    """Sign from the lab: EleutherAI dampens, the other labs expand; rate from HRH's models."""
    lab = model.fact("lab")

    def predict():
        if lab is None:
            raise NotApplicable("the model's lab is unknown (a models.csv / panel-file fact)")
        eleuther = lab == HERITAGE_LAB
        row.predicted_sign = DAMPEN if eleuther else EXPAND
        group = context.evidence.heritage[(context.evidence.heritage["lab"] == HERITAGE_LAB) == eleuther]
        row.predicted, row.pi_low, row.pi_high, counts = _share(group, DAMPEN, context.settings.confidence)
        row.note = join(
            row.note,
            f"the law: {HERITAGE_LAB} models dampen (80%), other labs' expand (100%); {lab} "
            f"predicts {row.predicted_sign}; published HRH (R1, fp16, 5 prompts): {counts} "
            f"{HERITAGE_LAB if eleuther else 'other-lab'} models dampen, Wilson CI",
        )

    both(predict, _sign_measure(row, model))
    row.consistent = verdict(row.measured_sign == row.predicted_sign)


def signature_sign(row: CardRow, model: ModelData, context) -> None:
    """Sign from ||W_V|| / ||W_O||: a logistic classifier fitted on the published restriction-map models."""
    evidence = context.evidence

    def predict():
        ratio = model.head_ratio()
        data, fit = evidence.signature, evidence.signature_classifier
        frame = fit.get_prediction(pd.DataFrame({"log_ratio": [np.log10(ratio)]}))
        prediction = frame.summary_frame(alpha=evidence.alpha).iloc[0]
        row.predicted, row.pi_low, row.pi_high = (
            float(prediction[c]) for c in ("mean", "mean_ci_lower", "mean_ci_upper")
        )
        notebooks = ", ".join(sorted(data["notebook"].dropna().unique()))
        row.note = join(
            row.note,
            f"logistic regression of dampening on log10 ratio over {len(data)} published "
            f"models (restriction-map CSV, signs from {notebooks}): slope "
            f"{fit.params['log_ratio']:.3g} (p = {fit.pvalues['log_ratio']:.2g}); this model's "
            f"ratio {ratio:.3g}",
            SCALES_DIFFER,
        )
        if row.pi_low < 0.5 < row.pi_high:
            raise NotApplicable(
                f"the classifier cannot tell: the CI of P(dampen) [{row.pi_low:.2f}, {row.pi_high:.2f}] contains 0.5"
            )
        row.predicted_sign = DAMPEN if row.predicted >= 0.5 else EXPAND

    both(predict, _sign_measure(row, model))
    row.consistent = verdict(row.measured_sign == row.predicted_sign)


def crowding_sign(row: CardRow, model: ModelData, context) -> None:
    """Sign from the head density: rho >= 0.2 => dampen; rate from the published models on the same side."""
    rho = model.fact("rho")

    def predict():
        if rho is None:
            raise NotApplicable("the model's rho = H / d_head is unknown")
        high = rho >= RHO_CRIT
        row.predicted_sign = DAMPEN if high else EXPAND
        table = context.evidence.crowding
        side = table[(table["rho"] >= RHO_CRIT) == high]
        row.predicted, row.pi_low, row.pi_high, counts = _share(side, DAMPEN, context.settings.confidence)
        relation = ">=" if high else "<"
        row.note = join(
            row.note,
            f"rho = {rho:.4g} {relation} {RHO_CRIT}: predicts {row.predicted_sign}; published "
            f"models (R1; HRH, PFS, CRG) with rho {relation} {RHO_CRIT}: {counts} dampen, "
            "Wilson CI",
        )

    both(predict, _sign_measure(row, model))
    row.consistent = verdict(row.measured_sign == row.predicted_sign)


def final_norm(row: CardRow, model: ModelData, context) -> None:
    """Excluding the final norm makes the rho rule right (App. B, "43.75% -> 100%"): this model's change in
    the rule's correctness (+1 becomes right, 0 unchanged, -1 becomes wrong) must not be negative."""
    settings = context.settings

    def predict():
        table = context.evidence.final_norm
        boot = bootstrap_ci(
            table, "improvement", confidence=settings.confidence, n_resamples=settings.n_resamples, seed=settings.seed
        ).iloc[0]
        row.predicted, row.pi_low, row.pi_high = float(table["improvement"].mean()), boot["ci_low"], boot["ci_high"]
        row.note = join(
            row.note,
            f"published HRH, {len(table)} models: the rule is right for "
            f"{table['correct_with_norm'].mean():.0%} with the final norm and "
            f"{table['correct_without_norm'].mean():.0%} without; mean change (bootstrap CI over "
            "models); the law: the change is never negative",
        )

    def measure():
        rho = model.fact("rho")
        if rho is None:
            raise NotApplicable("the model's rho = H / d_head is unknown")
        rule = DAMPEN if rho >= RHO_CRIT else EXPAND
        with_norm, without = model.summary(R1_WITH_NORM), model.summary(R1_GAIN)
        row.measured = float(int(without.sign == rule) - int(with_norm.sign == rule))
        flips = "flips the sign" if with_norm.sign != without.sign else "keeps the sign"
        row.note = join(
            row.note,
            f"rule predicts {rule}; with the final norm {with_norm.mean:.4g} ({with_norm.sign}), "
            f"without {without.mean:.4g} ({without.sign}): the final norm {flips}",
        )

    both(predict, measure)
    row.consistent = verdict(row.measured >= 0)


def lstar(row: CardRow, model: ModelData, context) -> None:
    """L* = L (0.11 + 0.012 L + 4.9 / H), clamped to [0, L-1], against the measured transition layer."""
    n_layers, n_heads = model.n_layers, model.fact("n_heads")

    def predict():
        if n_heads is None:
            raise NotApplicable("the model's head count is unknown")
        raw = float(formula(n_layers, n_heads))
        row.predicted = float(np.clip(raw, 0, n_layers - 1))
        row.note = join(
            row.note, f"formula {raw:.3g}" + (f", clamped to {row.predicted:.3g}" if raw != row.predicted else "")
        )
        residual = context.evidence.lstar_calibration["residual"]
        n = len(residual)
        half = scipy.stats.t.ppf(1 - context.evidence.alpha / 2, n - 1) * residual.std(ddof=1) * math.sqrt(1 + 1 / n)
        low = row.predicted + n_layers * (residual.mean() - half)
        high = row.predicted + n_layers * (residual.mean() + half)
        row.pi_low, row.pi_high = float(np.clip(low, 0, n_layers - 1)), float(np.clip(high, 0, n_layers - 1))
        row.note = join(
            row.note,
            f"interval from the formula's depth-normalised errors on its {n} calibration targets "
            "(H4V2, the same L* definition): t prediction interval, in-sample and so optimistic",
        )
        cross = context.evidence.lstar_cross
        row.note = join(
            row.note,
            f"on LSC's cross-heritage L* (sign change of the printed eq. 4) the formula errs by "
            f"{cross['formula_error'].mean():.0%} of L on average",
        )

    def measure():
        measured = model.transition_layer(context.settings.n_resamples, context.settings.seed)
        row.measured, row.measured_low, row.measured_high = float(measured["l_star"]), measured["low"], measured["high"]
        row.note = join(
            row.note,
            f"measured: argmax over layers of |gradient| of the prompt-mean multi-head trace, "
            f"{measured['n_prompts']} prompts of {measured['prompt_set']}, percentile bootstrap "
            "over prompts",
        )

    both(predict, measure)
    row.consistent = verdict(within(row.measured, row.pi_low, row.pi_high))


def _position(gain: float, means) -> str:
    below = [m for m in means.index if means[m] < gain]
    above = [m for m in means.index if means[m] >= gain]
    if not below:
        return f"below {above[0]} ({means[above[0]]:.2f})"
    if not above:
        return f"above {below[-1]} ({means[below[-1]]:.2f})"
    return f"between {below[-1]} ({means[below[-1]]:.2f}) and {above[0]} ({means[above[0]]:.2f})"


def hierarchy(row: CardRow, model: ModelData, context) -> None:
    """Pythia 0.80 < Mistral 1.11 < LLaMA 1.48 < Gemma 2.31 (GUB, R2): one of the four must fall between its
    neighbours; any other model is placed in the order, which predicts nothing for it."""
    summary = model.summary(R2_GAIN)
    _fill_measured(row, summary)
    row.note = f"measured {summary.describe()}"
    means = context.evidence.hierarchy
    registry = model.fact("registry_model")
    others = means.drop(registry) if registry in means.index else means
    row.note = f"{row.note}: {_position(summary.mean, others)}"
    if registry not in HIERARCHY:
        raise NotApplicable("the hierarchy orders four named models (GUB, R2); this model is not one of them")
    if model.source.name == "controls":
        raise NotApplicable(f"a random-init control of {registry} is not the trained model the hierarchy orders")
    order = list(HIERARCHY)
    i = order.index(registry)
    row.predicted = float(means[registry])
    row.pi_low = float(means[order[i - 1]]) if i > 0 else math.nan
    row.pi_high = float(means[order[i + 1]]) if i + 1 < len(order) else math.nan
    row.consistent = verdict(within(row.measured, row.pi_low, row.pi_high))
    row.note = join(f"{registry} must lie between its neighbours in the order (published GUB means)", row.note)


def twin(row: CardRow, model: ModelData, context) -> None:
    """Fine-tuning changes the magnitude but never the sign: the model against its measured base (R2)."""
    base = context.twin_of.get(model.model) or model.fact("twin_of")
    if base is None:
        raise NotApplicable("no base model named (the twin_of fact; thermo-audit retest --twin-of BASE)")
    if base not in set(model.source.models["model"]):
        raise NotApplicable(f"the base model {base} is not measured")
    prompt_set = model.source.prompt_set_for([model.model, base])
    if prompt_set is None:
        raise NotApplicable(f"{model.model} and {base} share no measured prompt set")
    mine = ModelData(model.source, model.model, model.confidence, prompt_set).summary(R2_GAIN)
    theirs = ModelData(model.source, base, model.confidence, prompt_set).summary(R2_GAIN)
    row.predicted = theirs.mean
    row.predicted_sign = theirs.sign
    row.pi_low, row.pi_high = (0.0, 1.0) if theirs.sign == DAMPEN else (1.0, math.inf)
    _fill_measured(row, mine)
    row.measured_sign = mine.sign
    row.consistent = verdict(mine.sign == theirs.sign)
    change = mine.mean / theirs.mean - 1
    shared = mine.values.index.intersection(theirs.values.index)
    paired = (
        f"paired t over {len(shared)} shared prompts p = "
        f"{scipy.stats.ttest_rel(mine.values[shared], theirs.values[shared]).pvalue:.2g}"
        if len(shared) >= 2
        else None
    )
    row.note = join(
        f"base {base} {theirs.describe()} ({theirs.sign}) on {prompt_set}; interval: the base's side of 1",
        f"this model {mine.describe()} ({mine.sign}); change {change:+.1%} "
        f"({'beyond' if abs(change) > MAGNITUDE_CHANGE else 'within'} the paper's 'up to 50%')",
        paired,
    )


LAWS = [
    Law(
        "kleiber_depth_r",
        "Kleiber: gain from depth L (Pythia fit)",
        R1_TEXT,
        "mean gain",
        kleiber("n_layers", "depth L"),
    ),
    Law("kleiber_rho_r", "Kleiber: gain from rho = H/d_head (Pythia fit)", R1_TEXT, "mean gain", kleiber("rho", "rho")),
    Law(
        "kleiber_gmax_bound",
        "Kleiber: every block below G_max = 10^(1/L)",
        "block gain x_b/x_{b-1}, last token, blocks 1..L-1",
        "largest block gain (bound above)",
        gmax_bound,
    ),
    Law(
        "kleiber_total_gain",
        "Kleiber: total gain over the blocks ~ 10",
        LABELS[R2_TOTAL],
        "total gain (geometric mean)",
        total_gain,
    ),
    Law("heritage_dampen_share", "Heritage: sign from the lab", R1_TEXT, CARD_SIGN_QUANTITY, heritage_sign),
    Law(
        "spectral_ratio_predicts_sign",
        "Spectral signature: sign from ||W_V|| / ||W_O||",
        R1_TEXT,
        CARD_SIGN_QUANTITY,
        signature_sign,
    ),
    Law("crowding_rule", "Crowding: rho >= 0.2 => dampen", R1_TEXT, CARD_SIGN_QUANTITY, crowding_sign),
    Law(
        "final_ln_accuracy",
        "Final norm: excluding it makes the rho rule right",
        "R1 with vs without the final norm",
        "change in rule correctness (-1, 0, +1)",
        final_norm,
    ),
    Law(
        "lstar_formula",
        "L* = L (0.11 + 0.012 L + 4.9 / H)",
        "argmax |gradient| of the multi-head trace",
        "transition layer",
        lstar,
    ),
    Law(
        "hierarchy", "Hierarchy: Pythia 0.80 < Mistral 1.11 < LLaMA 1.48 < Gemma 2.31", R2_TEXT, "mean gain", hierarchy
    ),
    Law("twin_sign", "Twins: fine-tuning keeps the sign", R2_TEXT, "mean gain", twin),
]
