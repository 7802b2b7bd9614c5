"""Readers for the hidden-state (R1) and sublayer (R4) notebooks: PFS, CRG, HRH, SLP, FFN.

R1 gains are last-token ratios of HF ``hidden_states`` (methods.md 2.1): ``gain_no_ln`` is the
penultimate block's gain, ``gain_with_ln`` mixes the last block with the final norm, and the
``*_std`` fields are population SDs. R4 gains are sublayer output / normalised input.
"""

from __future__ import annotations

from pathlib import Path

from measure.published.aliases import known_labs
from measure.published.source import Node, PublishedFileError, Rows, load_json, prompt_id_of

# the shape numbers most notebooks stored under the quantity's own name
_SHAPE = ("n_layers", "n_heads", "d_model", "d_head", "rho")


def _architecture(rows: Rows, model: str, record: Node, fields: dict[str, str]) -> None:
    """Configuration numbers the notebook recorded: quantity -> key in ``record``."""
    for quantity, key in fields.items():
        rows.add(quantity, record[key], model=model)


def _r1_summary(rows: Rows, model: str, record: Node, no_ln: str, with_ln: str, **coords) -> None:
    """Mean and population SD of the two R1 gains (``<no_ln>_mean`` ...), and the per-layer vector.

    ``all_layer_gains`` element i is block i's gain for i <= L-2; its last element restates
    ``gain_with_ln_mean`` (F(x_{L-1}) / x_{L-2} has no block index).
    """
    for quantity, prefix in [("gain_penultimate_block", no_ln), ("gain_with_final_norm", with_ln)]:
        rows.add(quantity, record[f"{prefix}_mean"], model=model, aggregate="mean", **coords)
        rows.add(quantity, record[f"{prefix}_std"], model=model, aggregate="sd_population", **coords)
    gains = list(record["all_layer_gains"])
    for block, gain in enumerate(gains[:-1]):
        rows.add("layer_gain", gain, model=model, layer=block, aggregate="mean", **coords)
    rows.add(
        "gain_with_final_norm", gains[-1], model=model, aggregate="mean", restates="all_layer_gains[L-1]", **coords
    )


def read_pfs(rows: Rows, path: Path) -> None:
    """PFS: 8 Pythia models, per-prompt R1 penultimate-block gains over PYTHIA25 (fp16)."""
    doc = load_json(path)
    models = list(doc["models"])
    for record in models:
        model = record["model"].text()
        _architecture(rows, model, record, {name: name for name in (*_SHAPE, "rotary_pct")})
        per_prompt = list(record["residual_gain_all"])
        for number, gain in enumerate(per_prompt, start=1):
            rows.add("gain_penultimate_block", gain, model=model, prompt_id=prompt_id_of(rows.prompt_set, number))
        _r1_summary(rows, model, record, no_ln="residual_gain", with_ln="gain_with_ln", n_prompts=len(per_prompt))
        rows.label(model, "dampening", record["is_dampening"])
    analysis = doc["analysis"]
    across = f"over {len(models)} models"
    rows.add("rho_vs_gain_penultimate_block", analysis["rho_gain_correlation"], aggregate="pearson_r", note=across)
    rows.add("rho_vs_gain_penultimate_block", analysis["correlation_p_value"], aggregate="pearson_p", note=across)
    rows.add("gain_penultimate_block", analysis["high_rho_dampen_rate"], aggregate="model_fraction_below_1:rho>=0.2")
    rows.add("gain_penultimate_block", analysis["low_rho_expand_rate"], aggregate="model_fraction_above_1:rho<0.2")


def read_crg(rows: Rows, path: Path) -> None:
    """CRG: pythia-6.9b vs gpt-j-6B, R1 over the 3 CANON3 prompts (fp32)."""
    doc = load_json(path)
    for number, text in enumerate(doc["prompts"], start=1):
        rows.prompt(rows.prompt_set, number, text.text())
    rows.n_prompts, rows.dtype = len(doc["prompts"]), doc["precision"].text()
    rows.add("h25_rule_accuracy", doc["h25_accuracy"], note=f"over {len(doc['results'])} models")
    for key, record in doc["results"].items():
        model = record["model"].text()
        if rows.model(record["path"].text()) != rows.model(key) or rows.model(model) != rows.model(key):
            raise PublishedFileError(
                f"{rows.file}: results.{key} names another model ({model}, {record['path'].text()})"
            )
        _architecture(rows, model, record, {name: name for name in (*_SHAPE, "n_hidden_states")})
        _r1_summary(rows, model, record, no_ln="gain_no_ln", with_ln="gain_with_ln")
        rows.label(model, "dampening", record["is_dampening_no_ln"])
        rows.label(model, "dampening_with_final_norm", record["is_dampening_with_ln"])


def read_hrh(rows: Rows, path: Path) -> None:
    """HRH: 16 models from 5 labs, R1 over HUNT5 (fp16); the per-lab table ('H26')."""
    doc = load_json(path)
    tested = list(doc["tested_results"])
    rows.add(
        "h25_rule_accuracy",
        100 * doc["h25_accuracy"].num(),
        note=(f"stored as the fraction {doc['h25_accuracy'].num()!r}; over {len(tested)} models"),
    )
    rows.add("gain_penultimate_block", doc["models_tested"], aggregate="model_count")
    for record in tested:
        model = record["model"].text()
        _architecture(rows, model, record, {name: name for name in (*_SHAPE, "n_hidden_states")})
        _r1_summary(rows, model, record, no_ln="gain_no_ln", with_ln="gain_with_ln")
        for kind, key in [
            ("lab_notebook", "lab"),
            ("norm_type_detected", "norm_type"),
            ("status", "status"),
            ("dampening", "is_dampening"),
            ("h25_prediction_correct", "h25_prediction_correct"),
        ]:
            rows.label(model, kind, record[key])
    for lab, record in doc["h26_lab_signatures"].items():
        if lab not in known_labs():
            raise PublishedFileError(f"{rows.file}: h26_lab_signatures.{lab} is not a lab of the registry")
        signature = f"signature {record['signature'].text()}"
        for aggregate, key in [
            ("model_mean", "mean_gain"),
            ("model_sd_population", "std_gain"),
            ("model_pct_below_1", "dampen_pct"),
            ("model_count", "n_models"),
        ]:
            rows.add("gain_penultimate_block", record[key], lab=lab, aggregate=f"{aggregate}:{lab}", note=signature)


def read_slp(rows: Rows, path: Path) -> None:
    """SLP: R4 sublayer gains of 8 Pythia models over SCALING4 (fp16) and the scaling-law fit."""
    doc = load_json(path)
    for record in doc["models"]:
        model = record["model"].text()
        _architecture(rows, model, record, {"n_params": "n_params", "n_layers": "n_layers", "d_model": "hidden_dim"})
        rows.add_layers("sublayer_attention_gain", record["attn_gains"], model=model, aggregate="mean")
        rows.add_layers("sublayer_mlp_gain", record["mlp_gains"], model=model, aggregate="mean")
        last = len(record["mlp_gains"]) - 1
        rows.add(
            "sublayer_attention_gain",
            record["last_layer_attn_gain"],
            model=model,
            layer=last,
            aggregate="mean",
            restates="last_layer_attn_gain",
        )
        rows.add(
            "sublayer_mlp_gain",
            record["last_layer_mlp_gain"],
            model=model,
            layer=last,
            aggregate="mean",
            restates="last_layer_mlp_gain",
        )
        rows.add("sublayer_attention_gain", record["attn_contracting_pct"], model=model, aggregate="layer_pct_below_1")
        rows.add("sublayer_mlp_gain", record["mlp_contracting_pct"], model=model, aggregate="layer_pct_below_1")
        rows.add("sublayer_mlp_gain", record["max_mlp_gain"], model=model, aggregate="layer_max")
        rows.add("sublayer_mlp_gain", record["max_mlp_layer"], model=model, aggregate="layer_argmax")
    fit, test = doc["scaling_law"], doc["hypothesis_test"]
    for aggregate, key in [
        ("slope", "exponent_alpha"),
        ("slope_se", "exponent_std_err"),
        ("intercept", "intercept"),
        ("r_squared", "r_squared"),
        ("p_value", "p_value"),
    ]:
        rows.add(
            "final_mlp_gain_vs_params",
            fit[key],
            aggregate=aggregate,
            note="log10(last-layer sublayer_mlp_gain) on log10(n_params)",
        )
    rows.add(
        "final_mlp_gain_vs_params", test["measured_alpha"], aggregate="slope", restates="hypothesis_test.measured_alpha"
    )
    rows.add("final_mlp_gain_vs_params", test["difference"], aggregate="hypothesis_minus_slope")
    rows.add("hypothesized_scaling_exponent", test["hypothesized_alpha"])


def read_ffn(rows: Rows, path: Path) -> None:
    """FFN: R4 attention and MLP gains of pythia-1.4b over FFN8 (fp16)."""
    doc = load_json(path)
    model = doc["model"].text()
    rows.n_prompts = int(doc["n_prompts"].num())
    _architecture(rows, model, doc, {"n_layers": "n_layers", "d_model": "hidden_dim"})
    for part, quantity in [("attention", "sublayer_attention_gain"), ("mlp", "sublayer_mlp_gain")]:
        section = doc[part]
        rows.add_layers(quantity, section["gains"], model=model, aggregate="mean")
        rows.add(quantity, section["min_gain"], model=model, aggregate="layer_min")
        rows.add(quantity, section["max_gain"], model=model, aggregate="layer_max")
        rows.add(quantity, section["n_contracting"], model=model, aggregate="layer_count_below_1")
        rows.add(quantity, section["n_expanding"], model=model, aggregate="layer_count_above_1")
    rows.add("l_star_attention_min", doc["attention"]["L_star_min"], model=model)
    rows.add("l_star_mlp_max", doc["mlp"]["L_star_max"], model=model)
    combined = doc["combined"]
    rows.add_layers("sublayer_combined_gain", combined["gains"], model=model, aggregate="mean")
    rows.add("sublayer_combined_gain", combined["n_net_contracting"], model=model, aggregate="layer_count_below_1")
    rows.add("sublayer_combined_gain", combined["n_net_expanding"], model=model, aggregate="layer_count_above_1")
    for kind in ("attention_contracts", "mlp_expands", "hypothesis_confirmed"):
        rows.label(model, kind, doc["hypothesis_test"][kind])
