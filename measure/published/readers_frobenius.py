"""Readers for the all-token Frobenius (R3) and unembedding notebooks: 4MV, MPI, IDT, LLA.

R3 gain lists are stored per block (layer mapping in ``catalogue``); the notebooks' named views of
list elements (``initial_gain``, ``last_gain``, ``final_cumulative`` ...) are checked against the
list and not repeated. W_U / W_E statistics are weight-only (no prompts).
"""

from __future__ import annotations

from pathlib import Path

from measure.published.source import Node, Rows, load_json, prompt_id_of

_MATRIX_STATS = {
    "frobenius": "frobenius_norm",
    "spectral": "spectral_norm",
    "row_norm_mean": "mean_row_norm",
    "row_norm_sd": "std_row_norm",
}
_MPI_MATRIX_STATS = {
    **_MATRIX_STATS,
    "row_norm_max": "max_row_norm",
    "row_norm_min": "min_row_norm",
    "abs_mean": "mean_abs",
    "abs_sd": "std_abs",
    "frobenius_normalized": "frobenius_normalized",
    "spectral_normalized": "spectral_normalized",
}


def _frobenius_gains(rows: Rows, model: str, record: Node, first_layer: int, **coords) -> None:
    """The R3 gain list and its stored summaries; ``first_layer`` is the block of element 0."""
    gains = record["gains"]
    rows.add_layers("frobenius_gain", gains, model=model, first_layer=first_layer, **coords)
    last = first_layer + len(gains) - 1
    rows.add("frobenius_gain", record["last_gain"], model=model, layer=last, restates="last_gain", **coords)
    rows.add("frobenius_gain", record["contracting_pct"], model=model, aggregate="layer_pct_below_1", **coords)


def read_4mv(rows: Rows, path: Path) -> None:
    """4MV: pythia-6.9b, gemma-7b, apertus-8b, llama-3.1-8b on one prompt, R3 in bf16 autocast."""
    doc = load_json(path)
    prompt = {"prompt_id": prompt_id_of(rows.prompt_set, 1)}
    reference = doc["mistral_reference"]
    mistral = "mistral-7b-v0.1"
    rows.add("reference_gain", reference["last_layer_gain"], model=mistral, note="R3 last gain copied from MPI")
    rows.add("reference_initial_gain", reference["initial_explosion"], model=mistral)
    first, last = reference["plateau_range"]
    rows.add("reference_plateau_first_layer", first, model=mistral)
    rows.add("reference_plateau_last_layer", last, model=mistral)
    for model, record in doc["results"].items():
        _frobenius_gains(rows, model, record, first_layer=0, **prompt)
        rows.add("frobenius_gain", record["initial_gain"], model=model, layer=0, restates="initial_gain", **prompt)
        rows.add("frobenius_gain", record["max_gain"], model=model, aggregate="layer_max", **prompt)
        rows.add("frobenius_gain", record["max_gain_layer"], model=model, aggregate="layer_argmax", **prompt)
        rows.add("frobenius_gain", record["expanding_pct"], model=model, aggregate="layer_pct_above_1", **prompt)
        inversion = record["paper2_inversion_layer"]
        if not inversion.is_null():
            rows.add(
                "frobenius_gain",
                record["paper2_inversion_gain"],
                model=model,
                layer=int(inversion.num()),
                restates="paper2_inversion_gain",
                **prompt,
            )
        rows.add_layers("frobenius_norm", record["norms"], model=model, first_layer=-1, **prompt)
        rows.add_layers("cumulative_gain", record["cumulative_energy"], model=model, **prompt)
        final = len(record["cumulative_energy"]) - 1
        rows.add(
            "cumulative_gain",
            record["final_cumulative"],
            model=model,
            layer=final,
            restates="final_cumulative",
            **prompt,
        )
        rows.add("n_layers", record["n_layers"], model=model)
        for kind, key in [
            ("family_label", "family"),
            ("norm_type", "norm_type"),
            ("mlp_type", "mlp_type"),
            ("last_expands", "last_expands"),
        ]:
            rows.label(model, kind, record[key])
    for model, record in doc["cumulative_energy"].items():
        final = len(doc["results"][model]["cumulative_energy"]) - 1
        rows.add(
            "cumulative_gain",
            record["final_cumulative"],
            model=model,
            layer=final,
            restates="cumulative_energy",
            **prompt,
        )
        rows.label(model, "net_effect", record["net_effect"])
    swiglu = doc["swiglu_comparison"]
    llama = doc["results"]["llama3.1-8b"]
    rows.add(
        "frobenius_gain",
        swiglu["llama31_8b_last_gain"],
        model="llama3.1-8b",
        layer=len(llama["gains"]) - 1,
        restates="swiglu_comparison",
        **prompt,
    )
    rows.add("reference_gain", swiglu["mistral_7b_last_gain"], model=mistral, restates="swiglu_comparison")
    rows.add("swiglu_last_gain_ratio", swiglu["ratio"], **prompt)
    connection, apertus = doc["paper2_connection"], doc["results"]["apertus-8b"]
    rows.add(
        "frobenius_gain",
        connection["layer28_gain"],
        model="apertus-8b",
        layer=int(apertus["paper2_inversion_layer"].num()),
        restates="paper2_connection",
        **prompt,
    )
    rows.add(
        "frobenius_gain",
        connection["last_layer_gain"],
        model="apertus-8b",
        layer=len(apertus["gains"]) - 1,
        restates="paper2_connection",
        **prompt,
    )


def read_mpi(rows: Rows, path: Path) -> None:
    """MPI: Mistral-7B on one prompt (fp16): R3 gains without an embedding hook, W_U/W_E, entropy."""
    doc = load_json(path)
    prompt = {"prompt_id": prompt_id_of(rows.prompt_set, 1)}
    for model, record in doc["unembedding_analysis"].items():
        for prefix, key in [("wu", "unembedding"), ("we", "embedding")]:
            matrix = record[key]
            for stat, field in _MPI_MATRIX_STATS.items():
                rows.add(f"{prefix}_{stat}", matrix[field], model=model)
            rows.add(f"{prefix}_spectral", matrix["max_singular"], model=model, restates="max_singular")
            vocab, width = matrix["shape"]
            restates = None if key == "unembedding" else f"{key}.shape"
            rows.add("vocab_size", vocab, model=model, restates=restates)
            rows.add("d_model", width, model=model, restates=restates)
        rows.add("wu_we_frobenius_ratio", record["wu_we_ratio"], model=model)
        rows.label(model, "tied_embeddings", record["tied_embeddings"])
        rows.label(model, "family_label", record["family"])
    for model, record in doc["residual_stream_analysis"].items():
        # no embedding hook: element i is block i + 1's gain, norms[j] is block j's output
        _frobenius_gains(rows, model, record, first_layer=1, **prompt)
        rows.add_layers("frobenius_norm", record["norms"], model=model, **prompt)
        rows.add("frobenius_gain", record["max_gain"], model=model, aggregate="layer_max", **prompt)
        stored = int(record["max_gain_layer"].num())
        rows.add(
            "frobenius_gain",
            stored + 1,
            model=model,
            aggregate="layer_argmax",
            note=f"stored as list index {stored}",
            **prompt,
        )
        for index, gain in record["expansion_layers"]:
            rows.add(
                "frobenius_gain", gain, model=model, layer=int(index.num()) + 1, restates="expansion_layers", **prompt
            )
        rows.add("n_layers", record["n_layers"], model=model, note="MPI counts its gains (L - 1)")
    for model, record in doc["entropy_analysis"].items():
        for quantity, key in [
            ("logit_mean", "logit_mean"),
            ("logit_sd", "logit_std"),
            ("logit_max", "logit_max"),
            ("logit_min", "logit_min"),
            ("logit_range", "logit_range"),
            ("next_token_entropy", "entropy"),
            ("effective_vocab", "effective_vocab"),
            ("top10_prob_mass", "top10_prob_mass"),
        ]:
            rows.add(quantity, record[key], model=model, **prompt)


def read_idt(rows: Rows, path: Path) -> None:
    """IDT: Llama-3.1-8B on the 5 INPUTDEP5 prompts, R3 in fp16, and its entropy-gain correlation."""
    doc = load_json(path)
    model = doc["model"].text()
    ids = {}
    for number, (key, prompt) in enumerate(doc["prompts"].items(), start=1):
        category = key.split("_", 1)[-1]
        ids[key] = rows.prompt(
            rows.prompt_set, number, prompt["text"].text(), category=category, difficulty=prompt["difficulty"].text()
        )
    rows.n_prompts = len(ids)
    for key, prompt_id in ids.items():
        record = doc["results"][key]
        gains = record["gains"]
        rows.add_layers("frobenius_gain", gains, model=model, prompt_id=prompt_id)
        rows.add(
            "frobenius_gain",
            record["last_gain"],
            model=model,
            layer=len(gains) - 1,
            prompt_id=prompt_id,
            restates="last_gain",
        )
        rows.add("next_token_entropy", record["entropy"], model=model, prompt_id=prompt_id)
        rows.add("top_token_prob", record["top_tokens"][0][1], model=model, prompt_id=prompt_id)
    correlation = doc["correlation"]
    for aggregate in ("pearson_r", "pearson_p", "spearman_r", "spearman_p"):
        rows.add("entropy_vs_frobenius_gain_last_block", correlation[aggregate], model=model, aggregate=aggregate)
    rows.label(model, "verdict", doc["conclusion"])


def read_lla(rows: Rows, path: Path) -> None:
    """LLA: W_U statistics (fp16 weights) and RoPE configuration of three models."""
    doc = load_json(path)
    for model, record in doc["hypothesis_1_titanium_projector"]["results"].items():
        for stat, field in _MATRIX_STATS.items():
            rows.add(f"wu_{stat}", record[field], model=model)
        rows.add("wu_spectral_per_sqrt_vocab", record["spectral_per_sqrt_vocab"], model=model)
        rows.add("effective_amplification", record["effective_amplification"], model=model)
        rows.add("reference_gain", record["last_gain"], model=model, note="hard-coded 'last gain'")
        rows.add("vocab_size", record["vocab_size"], model=model)
        rows.add("d_model", record["hidden_dim"], model=model)
        vocab, width = record["shape"]
        rows.add("vocab_size", vocab, model=model, restates="shape")
        rows.add("d_model", width, model=model, restates="shape")
    for model, record in doc["hypothesis_2_rope"]["results"].items():
        rows.add("rope_theta", record["rope_theta"], model=model)
        rows.add("max_positions", record["max_position"], model=model)
        rows.add("context_length", record["context_length"], model=model)
        scaling = record["rope_scaling"]
        if not scaling.is_null():
            for quantity, key in [
                ("rope_scaling_factor", "factor"),
                ("rope_low_freq_factor", "low_freq_factor"),
                ("rope_high_freq_factor", "high_freq_factor"),
                ("rope_original_max_positions", "original_max_position_embeddings"),
            ]:
                rows.add(quantity, scaling[key], model=model)
            rows.label(model, "rope_type", scaling["rope_type"])
