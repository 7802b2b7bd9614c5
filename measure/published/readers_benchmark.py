"""Readers for the block-hook, last-token (R2) notebooks on the GU25 prompts: GUB, G2L, GJP, TWN.

Each wrote a JSON and a CSV with the same per-prompt table (``all_results``). Both are read; the
JSON's numbers are kept and the CSV's are checked against them (``Rows.add(restates=...)``).
GU25 prompt ids follow the order of the file's first model; every file must list the same texts
(the importer checks the four files against each other).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from measure.published.source import Node, PublishedFileError, Rows, load_csv, load_json

GU25 = "GU25"
_PER_PROMPT = {
    "gain_last_block": "Last_Gain",
    "total_amplification": "Total_Amp",
    "next_token_entropy": "Entropy",
    "top_token_prob": "Top_Prob",
}
_LABELS = {
    "norm_type": "Norm_Type",
    "role": "Role",
    "params_label": "Params",
    "architecture_label": "Architecture",
    "variant": "Variant",
}


def _prompt_ids(rows: Rows, records: list[Node]) -> tuple[dict[str, str], dict[str, tuple]]:
    """GU25 ids by first appearance (text -> id) and each text's (category, complexity); registers them."""
    ids: dict[str, str] = {}
    categories: dict[str, tuple] = {}
    for record in records:
        text = record["Prompt"].text()
        category = (record["Category"].text(), int(record["Complexity"].num()) if "Complexity" in record else None)
        if text not in ids:
            ids[text] = rows.prompt(GU25, len(ids) + 1, text, *category)
            categories[text] = category
        elif categories[text] != category:
            raise PublishedFileError(
                f"{rows.file}: prompt '{text}' has two categories {categories[text]} and {category}"
            )
    per_model: dict[str, set] = {}
    for record in records:
        per_model.setdefault(record["Model"].text(), set()).add(record["Prompt"].text())
    for model, texts in per_model.items():
        if texts != set(ids):
            raise PublishedFileError(f"{rows.file}: model {model} was run on other prompts than the first model")
    return ids, categories


def _per_prompt(rows: Rows, records: list[Node], ids: dict[str, str], restates: str | None = None) -> None:
    """One row per model x prompt for each R2 number, the hook count, and the per-model labels."""
    for record in records:
        model, text = record["Model"].text(), record["Prompt"].text()
        if text not in ids:
            raise PublishedFileError(f"{record.file}: {record.path}: prompt '{text}' is not in the JSON's list")
        for quantity, column in _PER_PROMPT.items():
            rows.add(quantity, record[column], model=model, prompt_id=ids[text], restates=restates)
        if "N_Layers" in record:
            rows.add("n_layers", record["N_Layers"], model=model, restates=restates)
        for kind, column in _LABELS.items():
            if column in record:
                rows.label(model, kind, record[column])


def _table(rows: Rows, json_doc: Node, csv_path: Path) -> Counter:
    """The per-prompt table from the JSON, then the CSV's copy checked against it.

    Returns the number of prompts per category (for category means).
    """
    records = list(json_doc["all_results"])
    if not records:
        raise PublishedFileError(f"{rows.file}: 'all_results' is empty")
    ids, categories = _prompt_ids(rows, records)
    rows.n_prompts = len(ids)
    _per_prompt(rows, records, ids)
    _per_prompt(rows, load_csv(csv_path, list(records[0].raw)), ids, restates=csv_path.name)
    return Counter(category for category, _ in categories.values())


def _reference_gains(rows: Rows, section: Node) -> None:
    """Gains hard-coded for comparison ({model: gain} or {model: {"gain": ...}})."""
    for model, entry in section.items():
        rows.add("reference_gain", entry["gain"] if isinstance(entry.raw, dict) else entry, model=model)


def read_gub(rows: Rows, json_path: Path, csv_path: Path) -> None:
    """GUB: 4 models x 25 GU25 prompts, R2 in fp16, with its per-model tests."""
    doc = load_json(json_path)
    per_category = _table(rows, doc, csv_path)
    for model, value in doc["base_levels"].items():
        rows.add("gain_last_block", value, model=model, aggregate="mean")
    for model, spread in doc["modulation_ranges"].items():
        for aggregate in ("min", "max", "range"):
            rows.add("gain_last_block", spread[aggregate], model=model, aggregate=aggregate)
    for record in doc["entropy_correlations"]:
        for aggregate, key in [
            ("spearman_r", "Spearman_r"),
            ("spearman_p", "Spearman_p"),
            ("pearson_r", "Pearson_r"),
            ("pearson_p", "Pearson_p"),
        ]:
            rows.add("entropy_vs_gain_last_block", record[key], model=record["Model"].text(), aggregate=aggregate)
    for record in doc["complexity_correlations"]:
        for aggregate, key in [("spearman_r", "Complexity_Spearman_r"), ("spearman_p", "Complexity_Spearman_p")]:
            rows.add("complexity_vs_gain_last_block", record[key], model=record["Model"].text(), aggregate=aggregate)
    for record in doc["p3_platitude_tunnel"]:
        model = record["Model"].text()
        for category in ("Cliche", "Novel"):
            rows.add(
                "next_token_entropy",
                record[f"{category}_Entropy_Mean"],
                model=model,
                aggregate=f"mean:{category}",
                n_prompts=per_category[category],
            )
        for aggregate, key in [("t_statistic", "t_stat"), ("p_value", "p_val"), ("cohens_d", "cohens_d")]:
            rows.add("cliche_vs_novel_entropy", record[key], model=model, aggregate=aggregate)
        rows.label(model, "cliche_novel_verdict", record["hypothesis"])


def read_g2l(rows: Rows, json_path: Path, csv_path: Path) -> None:
    """G2L: GPT-2 medium/large/XL x 25 GU25 prompts, R2 in fp32; one-sample t-tests vs 1."""
    doc = load_json(json_path)
    _table(rows, doc, csv_path)
    _reference_gains(rows, doc["reference_models"])
    for model, value in doc["base_levels"].items():
        rows.add("gain_last_block", value, model=model, aggregate="mean")
    for record in doc["validation_results"]:
        model = record["Model"].text()
        for aggregate, key in [("mean", "Mean_Gain"), ("sd_sample", "Std"), ("min", "Min"), ("max", "Max")]:
            rows.add(
                "gain_last_block",
                record[key],
                model=model,
                aggregate=aggregate,
                restates="validation_results" if aggregate == "mean" else None,
            )
        rows.add("gain_last_block_vs_1", record["t_stat"], model=model, aggregate="t_statistic")
        rows.add("gain_last_block_vs_1", record["p_value"], model=model, aggregate="p_value_one_sided_as_coded")
        rows.label(model, "dampening", record["Is_Dampening"])
        rows.label(model, "verdict", record["Status"])
    for record in doc["bentov_law_results"]:
        model = record["Model"].text()
        rows.add("entropy_vs_bentov_deviation", record["Bentov_Correlation"], model=model, aggregate="pearson_r")
        rows.add("entropy_vs_bentov_deviation", record["p_value"], model=model, aggregate="pearson_p")
        rows.label(model, "bentov_direction", record["Direction"])


def read_gjp(rows: Rows, json_path: Path, csv_path: Path) -> None:
    """GJP: GPT-J-6B x 25 GU25 prompts, R2 in bf16 (its one-sided p tests the wrong side)."""
    doc = load_json(json_path)
    per_category = _table(rows, doc, csv_path)
    model = doc["model"].text()
    _reference_gains(rows, doc["reference_models"])
    results = doc["results"]
    for aggregate, key in [("mean", "mean_gain"), ("sd_sample", "std_gain"), ("min", "min_gain"), ("max", "max_gain")]:
        rows.add("gain_last_block", results[key], model=model, aggregate=aggregate)
    rows.add("gain_last_block_vs_1", results["t_statistic"], model=model, aggregate="t_statistic")
    rows.add("gain_last_block_vs_1", results["p_value_one_sided"], model=model, aggregate="p_value_one_sided_as_coded")
    for category, value in doc["category_means"].items():
        rows.add("gain_last_block", value, model=model, aggregate=f"mean:{category}", n_prompts=per_category[category])
    test = doc["hypothesis_test"]
    rows.label(model, "verdict", test["result"])
    for key, entry in test["comparison"].items():
        if rows.model(key) == rows.model(model):
            rows.add("gain_last_block", entry["gain"], model=model, aggregate="mean", restates="comparison")
        else:
            rows.add("reference_gain", entry["gain"], model=key, restates="comparison")


def read_twn(rows: Rows, json_path: Path, csv_path: Path) -> None:
    """TWN: 3 base/instruct pairs x 25 GU25 prompts, R2 in bf16; SDs are population SDs."""
    doc = load_json(json_path)
    _table(rows, doc, csv_path)
    twins = {(r["Family"].text(), r["Variant"].text()): r["Model"].text() for r in doc["all_results"]}
    for family, pair in doc["twin_summary"].items():
        for variant, summary in pair.items():
            if (family, variant) not in twins:
                raise PublishedFileError(f"{rows.file}: twin_summary.{family}.{variant} has no rows in all_results")
            model, n = twins[(family, variant)], int(summary["n_samples"].num())
            rows.add("gain_last_block", summary["mean_gain"], model=model, aggregate="mean", n_prompts=n)
            rows.add("gain_last_block", summary["std_gain"], model=model, aggregate="sd_population", n_prompts=n)
    for record in doc["hypothesis_results"]:
        family = record["Family"].text()
        base, instruct = twins.get((family, "base")), twins.get((family, "instruct"))
        if base is None or instruct is None:
            raise PublishedFileError(f"{rows.file}: hypothesis_results names family {family} without both twins")
        rows.add("gain_last_block", record["Base_Gain"], model=base, aggregate="mean", restates="hypothesis_results")
        rows.add(
            "gain_last_block", record["Instruct_Gain"], model=instruct, aggregate="mean", restates="hypothesis_results"
        )
        rows.add("twin_gain_delta", record["Delta"], model=instruct)
        rows.add("twin_gain_ratio", record["Ratio"], model=instruct)
        rows.label(instruct, "same_sign", record["Same_Sign"])
        rows.label(instruct, "rlhf_effect", record["RLHF_Effect"])
    _reference_gains(rows, doc["reference_gains"])
