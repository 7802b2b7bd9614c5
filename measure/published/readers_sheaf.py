"""Readers for the weight, attention and sheaf notebooks: RME, H4L, H4V2, H4X, LSC, OPA, and the
restriction-map summary CSV.

Per-layer vectors are indexed by block (the attention of block b). The H4L and H4V2 summary tables
(in the JSON and again in a CSV) restate the results; the H4V2 summary prints 1-2 decimals, so it
is checked within its printed precision. Pythia/BLOOM W_V and every H4X number carry the
notebooks' extraction bugs (methods.md 2.5); they are imported as stored.
"""

from __future__ import annotations

from pathlib import Path

from measure.published.source import Node, PublishedFileError, Rows, load_csv, load_json, prompt_id_of

_H4L_SUMMARY = ["Model", "Lab", "Behavior", "Known Gain", "Layers", "L* (gap max)", "L* / L", "Max Gap", "Mean Gap"]
_H4V2_SUMMARY = [
    "Model",
    "Lab",
    "Behavior",
    "Gain",
    "Heads",
    "Layers",
    "L* apriori",
    "L* empirical",
    "Mean Trace",
    "Mean Trace (MH)",
]
_RMAP_SUMMARY = ["Model", "Lab", "Expected", "Layers", "W_V Mean", "W_O Mean"]


def _expectations(rows: Rows, model: str, record: Node, lab: str = "lab", behavior: str = "behavior") -> None:
    """The lab and expected behaviour each H4 script assigned by hand."""
    rows.label(model, "lab_notebook", record[lab])
    rows.label(model, "behavior", record[behavior])


def read_rme(rows: Rows, path: Path) -> None:
    """RME: pythia-1.4b, one prompt, head 0 (fp16): restriction maps and the dense sheaf Laplacian."""
    doc = load_json(path)
    model = doc["model"].text()
    prompt_id = rows.prompt(rows.prompt_set, 1, doc["test_prompt"].text())
    at = {"model": model, "prompt_id": prompt_id}
    for quantity, key in [("n_layers", "n_layers"), ("n_heads", "n_heads"), ("d_model", "hidden_dim")]:
        rows.add(quantity, doc[key], model=model)
    rows.add("n_tokens", doc["seq_len"], **at)
    maps = doc["restriction_maps"]
    rows.add("l_star_min_contraction", maps["L_star_min_contraction"], **at)
    rows.add("l_star_contraction_inflection", maps["L_star_inflection"], **at)
    rows.add_layers("contraction_ratio", maps["contraction_ratios"], head=0, **at)
    rows.add_layers("restriction_map_op_norm_mean", maps["mean_op_norms"], head=0, **at)
    rows.add_layers("attention_entropy", maps["attention_entropies"], head=0, **at)
    rows.add_layers("wv_spectral", maps["W_V_op_norms"], model=model)
    sheaf = doc["sheaf_laplacian"]
    for quantity, key in [
        ("dense_laplacian_spectral_gap", "spectral_gaps"),
        ("dense_laplacian_lambda_1", "lambda_1"),
        ("dense_laplacian_lambda_2", "lambda_2"),
        ("dense_laplacian_trace", "traces"),
    ]:
        rows.add_layers(quantity, sheaf[key], head=0, **at)
    for kind in ("contraction_before_Lstar", "expansion_after_Lstar"):
        rows.label(model, kind.replace("Lstar", "l_star"), doc["validation"][kind])


def _h4l_summary(rows: Rows, records: list[Node], restates: str) -> None:
    for record in records:
        model = record["Model"].text()
        rows.add("known_gain", record["Known Gain"], model=model, restates=restates)
        rows.add("n_layers", record["Layers"], model=model, restates=restates)
        rows.add("l_star_gap_max", record["L* (gap max)"], model=model, restates=restates)
        rows.add("l_star_gap_max", record["L* / L"], model=model, aggregate="per_n_layers", restates=restates)
        for aggregate, key in [("layer_max", "Max Gap"), ("layer_mean", "Mean Gap")]:
            rows.add(
                "dense_laplacian_spectral_gap", record[key], model=model, head=0, aggregate=aggregate, restates=restates
            )
        _expectations(rows, model, record, lab="Lab", behavior="Behavior")


def read_h4l(rows: Rows, json_path: Path, csv_path: Path) -> None:
    """H4L: dense sheaf-Laplacian spectra of 4 models, head 0, mean over H4_4 (fp32)."""
    doc = load_json(json_path)
    for record in doc["results"]:
        model = record["model"].text()
        rows.add("known_gain", record["known_gain"], model=model)
        rows.add("n_layers", record["n_layers"], model=model)
        for quantity, key in [
            ("dense_laplacian_spectral_gap", "spectral_gaps"),
            ("dense_laplacian_lambda_2", "lambda_2"),
            ("dense_laplacian_trace", "traces"),
        ]:
            rows.add_layers(quantity, record[key], model=model, head=0, aggregate="mean")
        for quantity, key in [
            ("l_star_gap_max", "L_star_gap_max"),
            ("l_star_lambda2_max", "L_star_lambda2_max"),
            ("l_star_gap_inflection", "L_star_inflection"),
        ]:
            rows.add(quantity, record[key], model=model)
        rows.add("dense_laplacian_spectral_gap", record["max_spectral_gap"], model=model, head=0, aggregate="layer_max")
        rows.add(
            "dense_laplacian_spectral_gap", record["mean_spectral_gap"], model=model, head=0, aggregate="layer_mean"
        )
        rows.add(
            "dense_laplacian_spectral_gap",
            record["spectral_gap_at_half"],
            model=model,
            head=0,
            aggregate="mean",
            layer=len(record["spectral_gaps"]) // 2,
            restates="spectral_gap_at_half",
        )
        _expectations(rows, model, record)
    _h4l_summary(rows, list(doc["summary"]), restates="summary")
    _h4l_summary(rows, load_csv(csv_path, _H4L_SUMMARY), restates=csv_path.name)


def _h4v2_summary(rows: Rows, records: list[Node], restates: str) -> None:
    for record in records:
        model = record["Model"].text()
        for quantity, key, aggregate in [
            ("known_gain", "Gain", "value"),
            ("n_heads", "Heads", "value"),
            ("n_layers", "Layers", "value"),
            ("l_star_trace", "L* empirical", "value"),
            ("trace_full", "Mean Trace", "layer_mean"),
            ("trace_multihead", "Mean Trace (MH)", "layer_mean"),
        ]:
            rows.add(quantity, record[key], model=model, aggregate=aggregate, restates=restates)
        rows.add("l_star_apriori", record["L* apriori"], model=model, restates=restates)
        _expectations(rows, model, record, lab="Lab", behavior="Behavior")


def read_h4v2(rows: Rows, json_path: Path, csv_path: Path) -> None:
    """H4V2: multi-head sheaf traces and Nystrom spectra of 4 models, mean over H4_4 (fp32)."""
    doc = load_json(json_path)
    for record in doc["results"]:
        model = record["model"].text()
        for quantity, key in [("known_gain", "known_gain"), ("n_layers", "n_layers"), ("n_heads", "n_heads")]:
            rows.add(quantity, record[key], model=model)
        rows.add("l_star_apriori", record["L_star_apriori"], model=model)
        rows.add("l_star_apriori", record["L_star_ratio_apriori"], model=model, aggregate="per_n_layers")
        for quantity, key in [
            ("trace_full", "traces_full"),
            ("trace_multihead", "traces_multihead"),
            ("nystrom_lambda_2", "lambda_2"),
            ("nystrom_spectral_gap", "spectral_gaps"),
            ("nystrom_graph_lambda_2", "graph_lambda_2"),
        ]:
            rows.add_layers(quantity, record[key], model=model, aggregate="mean")
        rows.add("trace_full", record["mean_trace_full"], model=model, aggregate="layer_mean")
        rows.add("trace_multihead", record["mean_trace_multihead"], model=model, aggregate="layer_mean")
        rows.add("l_star_trace", record["L_star_trace"], model=model)
        rows.add("l_star_trace", record["L_star_ratio_trace"], model=model, aggregate="per_n_layers")
        rows.add("l_star_spectral", record["L_star_spectral"], model=model)
        _expectations(rows, model, record)
    _h4v2_summary(rows, list(doc["summary"]), restates="summary")
    _h4v2_summary(rows, load_csv(csv_path, _H4V2_SUMMARY), restates=csv_path.name)


def read_h4x(rows: Rows, path: Path) -> None:
    """H4X: multi-head traces of 5 larger models loaded in 4 bit (packed bytes used as W_V: invalid)."""
    doc = load_json(path)
    for model, record in doc["reference_results"].items():
        rows.add("reference_trace_multihead", record["trace_mh"], model=model, note="H4V2 mean, rounded")
        rows.label(model, "behavior", record["behavior"])
    for record in doc["extended_results"]:
        model = record["model"].text()
        for quantity, key in [("known_gain", "known_gain"), ("n_layers", "n_layers"), ("n_heads", "n_heads")]:
            rows.add(quantity, record[key], model=model)
        rows.add_layers("trace_full", record["traces_full"], model=model, aggregate="mean")
        rows.add_layers("trace_multihead", record["traces_mh"], model=model, aggregate="mean")
        rows.add("trace_multihead", record["mean_trace_mh"], model=model, aggregate="layer_mean")
        rows.add("l_star_trace_multihead", record["L_star"], model=model)
        rows.add("l_star_trace_multihead", record["L_star_ratio"], model=model, aggregate="per_n_layers")
        _expectations(rows, model, record)


def read_lsc(rows: Rows, path: Path) -> None:
    """LSC v3: 'sign change' L* per prompt (printed eq. 4) vs the architecture formula, 6 models (fp16)."""
    doc = load_json(path)
    results = list(doc["results"])
    for record in results:
        model = record["model"].text()
        rows.add("n_layers", record["L"], model=model)
        rows.add("n_heads", record["H"], model=model)
        per_prompt = list(record["individual_L_stars"])
        for number, value in enumerate(per_prompt, start=1):
            rows.add("l_star_sign_change", value, model=model, prompt_id=prompt_id_of(rows.prompt_set, number))
        rows.add(
            "l_star_sign_change", record["L_star_empirical"], model=model, aggregate="mean", n_prompts=len(per_prompt)
        )
        rows.add(
            "l_star_sign_change",
            record["L_star_std"],
            model=model,
            aggregate="sd_population",
            n_prompts=len(per_prompt),
        )
        rows.add("l_star_predicted", record["L_star_predicted"], model=model)
        rows.add("l_star_calibration", record["L_star_calibration"], model=model)
        rows.add("l_star_error_pct", record["error_pct"], model=model)
        for kind, key in [("lab_notebook", "lab"), ("family_label", "arch"), ("detection_method", "detection_method")]:
            rows.label(model, kind, record[key])
    rows.add("l_star_mape", doc["overall_mape"], note=f"over {len(results)} models")
    matches = doc["calibration_consistency"].text().split("/")
    if len(matches) != 2 or not all(part.strip().isdigit() for part in matches):
        raise PublishedFileError(
            f"{rows.file}: 'calibration_consistency' is not 'k/n' ({doc['calibration_consistency'].raw!r})"
        )
    rows.add("l_star_calibration_matches", int(matches[0]), note=f"of {int(matches[1])} calibration models")
    rows.add("l_star_mape_v2_reference", doc["comparison_v2_argmax"])
    rows.add("l_star_mape_improvement_pp", doc["improvement_pp"])


def read_opa(rows: Rows, path: Path) -> None:
    """OPA: full-W_V norms (fp16 weights -> fp32) and head-averaged attention statistics, 3 models."""
    doc = load_json(path)
    for model, record in doc["W_V_analysis"].items():
        for quantity, key in [
            ("wv_frobenius_mean", "mean_frobenius"),
            ("wv_spectral_mean", "mean_spectral"),
            ("wv_condition_mean", "mean_condition"),
        ]:
            rows.add(quantity, record[key], model=model)
    for model, record in doc["attention_analysis"].items():
        rows.add_layers("attention_entropy", record["entropy_by_layer"], model=model, aggregate="mean")
        rows.add_layers("attention_sparsity", record["sparsity_by_layer"], model=model, aggregate="mean")
        rows.add(
            "attention_entropy",
            record["mean_entropy"],
            model=model,
            aggregate="layer_mean",
            note="np.nanmean over layers",
        )
        rows.add("attention_sparsity", record["mean_sparsity"], model=model, aggregate="layer_mean")


def read_restriction_map_summary(rows: Rows, path: Path) -> None:
    """The restriction-map summary CSV: mean W_V and W_O norms of 7 models (producing code absent)."""
    for record in load_csv(path, _RMAP_SUMMARY):
        model = record["Model"].text()
        rows.add("n_layers", record["Layers"], model=model)
        rows.add("wv_spectral_mean", record["W_V Mean"], model=model)
        rows.add("wo_mean", record["W_O Mean"], model=model)
        rows.label(model, "lab_notebook", record["Lab"])
        rows.label(model, "expected_behavior", record["Expected"])
