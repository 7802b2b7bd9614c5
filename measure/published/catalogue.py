"""The catalogue of imported quantities: what each ``quantity`` name in ``values.csv`` means.

For every quantity: a one-line meaning, its unit, its kind (the gain convention R1..R4 of
methods.md section 2.1, or another kind below) and the notebooks that store it. The analysis
stage and the report look quantities up here; names are stable snake_case.

How the rows are laid out (``data/published/values.csv``):

* ``layer`` uses the project's convention: block index b for a value of block b, and for a gain
  x_b / x_{b-1} (x_{-1} = the embedding-side input, the notebook's first denominator); -1 only for a
  norm of that input, never for a gain. How each notebook's list index i maps to b:

  - R1 ``all_layer_gains`` (PFS, CRG, HRH): b = i for i = 0..L-2. The last element,
    F(x_{L-1}) / x_{L-2}, has no block index: it is ``gain_with_final_norm`` (it equals the file's
    ``gain_with_ln_mean``, checked on import).
  - R3 ``gains`` (4MV, IDT; first element divides by the embedding module's output): b = i.
    MPI has no embedding hook: b = i + 1, and its ``max_gain_layer`` is converted the same way.
    4MV ``norms``: element j is layer j - 1 (j = 0 is the embedding module's output); MPI ``norms``:
    layer j. 4MV ``cumulative_energy``: b = i.
  - R4 (SLP, FFN), attention/sheaf vectors (RME, H4L, H4V2, H4X, OPA): b = i (the block's own
    sublayer or attention).

* A number the file states twice is kept once: the notebooks' named views of a vector element
  (4MV/MPI/IDT ``initial_gain``, ``last_gain``, ``final_cumulative``, ``paper2_inversion_gain``,
  ``expansion_layers``; SLP ``last_layer_*_gain``; H4L ``spectral_gap_at_half``; LLA/MPI
  ``shape``) are checked against the vector and not repeated; summary tables that restate the
  results (GUB/G2L ``base_levels``, H4L/H4V2 ``summary``, TWN ``hypothesis_results`` gains, GJP
  ``comparison``, SLP ``measured_alpha``, 4MV ``cumulative_energy``/``swiglu_comparison``/
  ``paper2_connection``) likewise. Where a JSON and a CSV hold the same numbers (GUB, G2L, GJP,
  TWN per-prompt tables; H4L and H4V2 summaries) both are read, the JSON is kept (more digits;
  the H4V2 summary prints 1-2 decimals) and a disagreement beyond the CSV's printed precision is
  logged and written to the row's ``note``. In the published files they agree exactly.
* A JSON ``null`` gives no row; NaN stays NaN (empty in the CSV).
* ``aggregate`` is one of AGGREGATES, optionally with ``:<group>`` naming the prompt category
  (GU25), the lab or the rho group over which it was taken (e.g. ``mean:Cliche``,
  ``model_mean:EleutherAI``).
* Not imported (text, or no place in the tables): top-token strings and IDT's ranks 2-5 of its
  top-5 tokens (the labels table has no prompt column), per-prompt booleans (IDT ``expands``),
  free-text descriptions and dates, and file-level verdicts and bookkeeping of multi-model files
  (``verdict``, ``findings``, SLP ``universal_findings``, 4MV ``universal_principle_test``, counts
  such as ``n_models`` or ``models_scanned``): the labels table needs a model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quantity:
    name: str
    kind: str
    unit: str
    notebooks: tuple[str, ...]
    meaning: str


@dataclass(frozen=True)
class Notebook:
    """How a notebook ran (methods.md sections 3.2, 4 and 6.2): dtype and prompt set."""

    short: str
    title: str
    dtype: str | None
    prompt_set: str | None
    n_prompts: int | None


NOTEBOOKS: dict[str, Notebook] = {
    n.short: n
    for n in [
        Notebook("SLP", "Scaling_Law_Multi_Pythia", "float16", "SCALING4", 4),
        Notebook("PFS", "Pythia_Family_Residual_Gain_Sweep", "float16", "PYTHIA25", 25),
        Notebook("GUB", "Grand_Unified_Thermodynamic_Benchmark", "float16", "GU25", 25),
        Notebook("4MV", "4Model_Cross_Architecture_Validation", "bfloat16", "SINGLE1", 1),
        Notebook("CRG", "Clean_Residual_Gain_NO_FINAL_LN", "float32", "CANON3", 3),
        Notebook("HRH", "High_Rho_Model_Hunt_NO_FINAL_LN", "float16", "HUNT5", 5),
        Notebook("G2L", "GPT2_LayerNorm_Validation", "float32", "GU25", 25),
        Notebook("GJP", "GPTJ_Parallel_Architecture_Test", "bfloat16", "GU25", 25),
        Notebook("TWN", "Twin_Test_Base_vs_Instruct", "bfloat16", "GU25", 25),
        Notebook("RME", "Restriction_Maps_Extraction", "float16", "RMAP1", 1),
        Notebook("FFN", "FFN_Expansion_Analysis", "float16", "FFN8", 8),
        Notebook("H4X", "H4_v2_Extended_Models", "4bit-nf4", "H4_4", 4),
        Notebook("H4L", "h4_validation_local.py", "float32", "H4_4", 4),
        Notebook("H4V2", "h4_validation_v2.py", "float32", "H4_4", 4),
        Notebook("LSC", "L_Star_Cross_Heritage_SignChange", "float16", "LSTAR5", 5),
        Notebook("OPA", "OPT_Anomaly_Investigation", "float16", "OPT2", 2),
        Notebook("MPI", "Mistral_Paradox_Investigation", "float16", "SINGLE1", 1),
        Notebook("LLA", "Hypothesis_Tests_LLaMA_Anomaly", "float16", None, None),
        Notebook("IDT", "Input_Dependency_Thermodynamics", "float16", "INPUTDEP5", 5),
        Notebook("CSV", "restriction_map_summary (producing code not in the materials)", None, None, None),
    ]
}

KINDS = {
    "R1": "gain, HF hidden_states, last token (methods.md 2.1 R1)",
    "R2": "gain, block hooks, last token (R2)",
    "R3": "gain or norm, block hooks, Frobenius over all tokens (R3)",
    "R4": "sublayer output/normalised-input gain, mean over tokens (R4)",
    "output": "next-token distribution at the last position",
    "prompt": "a property of the tokenised prompt",
    "attention": "attention-pattern statistic",
    "sheaf": "sheaf-Laplacian / restriction-map quantity (methods.md 2.6-2.7)",
    "l_star": "transition-layer estimate L* (methods.md 2.8)",
    "prediction": "a formula's value from configuration or hard-coded inputs (not measured)",
    "weights": "weight-matrix norm (no prompts)",
    "architecture": "model configuration as recorded by the notebook",
    "statistic": "test statistic, fit or accuracy computed by the notebook",
    "constant": "number hard-coded in the notebook, not measured",
}
PROMPT_FREE_KINDS = frozenset({"weights", "architecture", "constant", "prediction"})
UNMEASURED_KINDS = frozenset({"architecture", "constant", "prediction"})

AGGREGATES = {
    "value": "one stored number: one prompt, one model, one layer, or a single fixed number",
    "mean": "mean over the row's n_prompts prompts",
    "sd_population": "standard deviation over prompts, ddof = 0 (np.std)",
    "sd_sample": "standard deviation over prompts, ddof = 1 (pandas .std())",
    "min": "minimum over prompts",
    "max": "maximum over prompts",
    "range": "max - min over prompts",
    "model_mean": "unweighted mean over models (of the group after ':')",
    "model_sd_population": "population SD over models",
    "model_count": "number of models",
    "model_pct_below_1": "percent of models whose mean is < 1",
    "model_fraction_below_1": "fraction of models whose mean is < 1",
    "model_fraction_above_1": "fraction of models whose mean is > 1",
    "layer_mean": "mean over the per-layer vector (NaN-skipping where the notebook used nanmean)",
    "layer_min": "minimum over the per-layer vector",
    "layer_max": "maximum over the per-layer vector",
    "layer_argmin": "block index of the minimum (project layer convention)",
    "layer_argmax": "block index of the maximum (project layer convention)",
    "layer_count_below_1": "number of layers with value < 1",
    "layer_count_above_1": "number of layers with value > 1",
    "layer_pct_below_1": "percent of the vector's entries < 1",
    "layer_pct_above_1": "percent of the vector's entries > 1",
    "per_n_layers": "the value divided by the model's number of layers (L*/L)",
    "pearson_r": "Pearson correlation coefficient",
    "pearson_p": "two-sided p-value of the Pearson correlation",
    "spearman_r": "Spearman rank correlation",
    "spearman_p": "two-sided p-value of the Spearman correlation",
    "t_statistic": "t statistic",
    "p_value": "two-sided p-value as stored",
    "p_value_one_sided_as_coded": "the notebook's one-sided p: p/2 if t < 0 else 1 - p/2 (tests mean < 1)",
    "cohens_d": "Cohen's d (pooled SD sqrt((s1^2 + s2^2)/2), ddof = 1)",
    "slope": "OLS slope (scipy linregress)",
    "slope_se": "standard error of the slope",
    "intercept": "OLS intercept",
    "r_squared": "coefficient of determination",
    "hypothesis_minus_slope": "hypothesised slope minus the fitted slope",
}

LABEL_KINDS = {
    "dampening": "the notebook's is_dampening / Is_Dampening (mean gain < 1, strict)",
    "dampening_with_final_norm": "CRG: the same with the final norm included",
    "h25_prediction_correct": "HRH: whether rho >= 0.2 predicted the observed sign",
    "lab_notebook": "the lab the notebook assigned (HRH by substring; H4*/LSC/CSV by hand)",
    "norm_type": "the norm type the notebook recorded",
    "norm_type_detected": "HRH's detected norm type (OPT, BLOOM, ... come out 'Unknown')",
    "mlp_type": "4MV's MLP type",
    "family_label": "the family key the notebook used (4MV, LSC, MPI)",
    "status": "HRH run status",
    "role": "GUB/G2L/GJP role of the model in the experiment",
    "params_label": "parameter count as a hard-coded label (e.g. '1.5B')",
    "architecture_label": "GJP's architecture description",
    "variant": "TWN: base or instruct",
    "behavior": "H4*: expected behaviour assigned by hand (DAMPEN/EXPAND/UNKNOWN)",
    "expected_behavior": "restriction-map CSV: expected DAMPENER/EXPANDER/NEUTRAL",
    "verdict": "the notebook's verdict for this model (or for the file when it has one model)",
    "cliche_novel_verdict": "GUB P3 verdict (decided by mean direction only)",
    "bentov_direction": "G2L: sign of Pearson(entropy, |gain - 1|)",
    "same_sign": "TWN: base and instruct on the same side of 1 (on the instruct model)",
    "rlhf_effect": "TWN: AMPLIFIES / DAMPENS / NEUTRAL at +-0.05 (on the instruct model)",
    "last_expands": "4MV: last R3 gain > 1",
    "net_effect": "4MV: AMPLIFY / ATTENUATE from the final cumulative gain",
    "detection_method": "LSC: how L* was found (sign_change, peak, ...)",
    "tied_embeddings": "MPI: W_U allclose W_E",
    "rope_type": "LLA: rope_scaling.rope_type",
    "contraction_before_l_star": "RME validation flag",
    "expansion_after_l_star": "RME validation flag",
    "attention_contracts": "FFN hypothesis flag",
    "mlp_expands": "FFN hypothesis flag",
    "hypothesis_confirmed": "FFN hypothesis flag",
}


def _q(name: str, kind: str, unit: str, notebooks: str, meaning: str) -> Quantity:
    return Quantity(name, kind, unit, tuple(notebooks.split()), meaning)


QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in [
        # R1: hidden states, last token
        _q(
            "gain_penultimate_block",
            "R1",
            "ratio",
            "PFS CRG HRH",
            "||x_{L-2}|| / ||x_{L-3}||, the notebooks' gain_no_ln ('excluding final LN'): the PENULTIMATE block",
        ),
        _q(
            "gain_with_final_norm",
            "R1",
            "ratio",
            "PFS CRG HRH",
            "||F(x_{L-1})|| / ||x_{L-2}|| (gain_with_ln): last block and final norm mixed",
        ),
        _q(
            "layer_gain",
            "R1",
            "ratio",
            "PFS CRG HRH",
            "per-block gain ||x_b|| / ||x_{b-1}|| from all_layer_gains, mean over prompts (b = list index)",
        ),
        # R2: block hooks, last token
        _q(
            "gain_last_block",
            "R2",
            "ratio",
            "GUB G2L GJP TWN",
            "Last_Gain = ||x_{L-1}|| / ||x_{L-2}||, the true last block (norms in the model dtype)",
        ),
        _q(
            "total_amplification",
            "R2",
            "ratio",
            "GUB G2L GJP TWN",
            "Total_Amp = ||x_{L-1}|| / ||x_0|| (denominator is block 0's output, not the embedding)",
        ),
        # R3: block hooks, Frobenius over all tokens
        _q(
            "frobenius_gain",
            "R3",
            "ratio",
            "4MV MPI IDT",
            "||x_b||_F / ||x_{b-1}||_F over all positions (BOS-dominated); 4MV/IDT layer 0 divides by the "
            "embedding module output; the notebooks' initial_gain is the first stored layer, last_gain layer L-1",
        ),
        _q(
            "frobenius_norm",
            "R3",
            "L2 (Frobenius) norm",
            "4MV MPI",
            "||x_b||_F over all positions; layer -1 = embedding module output (Gemma: before sqrt(d) scaling)",
        ),
        _q(
            "cumulative_gain",
            "R3",
            "ratio",
            "4MV",
            "running product of frobenius_gain = ||x_b||_F / ||emb||_F (final_cumulative = layer L-1)",
        ),
        # R4: sublayers
        _q(
            "sublayer_attention_gain",
            "R4",
            "ratio",
            "SLP FFN",
            "mean-over-tokens ||attention output|| / ||its LayerNorm input|| of block b, mean over prompts",
        ),
        _q(
            "sublayer_mlp_gain",
            "R4",
            "ratio",
            "SLP FFN",
            "the same for the MLP; at layer L-1 it is the scaling law's 'final MLP gain'",
        ),
        _q(
            "sublayer_combined_gain",
            "R4",
            "ratio",
            "FFN",
            "attention gain x MLP gain per block (no residual-stream meaning under parallel residual)",
        ),
        # output distribution
        _q(
            "next_token_entropy",
            "output",
            "nats",
            "GUB G2L GJP TWN MPI IDT",
            "entropy of the next-token distribution (GUB: fp16 softmax; G2L/GJP/TWN: fp32, clipped)",
        ),
        _q("top_token_prob", "output", "probability", "GUB G2L GJP TWN IDT", "probability of the top token"),
        _q("effective_vocab", "output", "tokens", "MPI", "exp(entropy)"),
        _q("top10_prob_mass", "output", "probability", "MPI", "probability mass of the 10 most likely tokens"),
        _q("logit_mean", "output", "logit", "MPI", "mean of the last-position logits over the vocabulary"),
        _q("logit_sd", "output", "logit", "MPI", "SD of the last-position logits over the vocabulary"),
        _q("logit_max", "output", "logit", "MPI", "maximum last-position logit"),
        _q("logit_min", "output", "logit", "MPI", "minimum last-position logit"),
        _q("logit_range", "output", "logit", "MPI", "logit_max - logit_min"),
        _q("n_tokens", "prompt", "tokens", "RME", "number of tokens of the prompt (seq_len)"),
        # attention
        _q(
            "attention_entropy",
            "attention",
            "nats",
            "RME OPA",
            "mean row entropy of the attention matrix per layer (RME: head 0, one prompt; OPA: head-averaged, "
            "mean over 2 prompts, NaN layers from fp16 overflow)",
        ),
        _q(
            "attention_sparsity",
            "attention",
            "fraction",
            "OPA",
            "fraction of all T x T entries < 0.01, masked upper triangle included (head-averaged)",
        ),
        # sheaf
        _q(
            "contraction_ratio",
            "sheaf",
            "ratio",
            "RME",
            "mean over kept pairs of ||sqrt(A_ij) W_V||_2 / ||W_V||_2 = mean sqrt(A_ij), head 0 (NaN: fp16 overflow)",
        ),
        _q(
            "restriction_map_op_norm_mean",
            "sheaf",
            "operator norm",
            "RME",
            "mean over kept pairs of ||sqrt(A_ij) W_V||_2 (mis-sliced W_V), head 0",
        ),
        _q(
            "dense_laplacian_spectral_gap",
            "sheaf",
            "eigenvalue",
            "RME H4L",
            "lambda_2 - lambda_1 of the subsampled, cropped dense sheaf Laplacian (structurally ~0)",
        ),
        _q("dense_laplacian_lambda_1", "sheaf", "eigenvalue", "RME", "smallest eigenvalue of that Laplacian"),
        _q("dense_laplacian_lambda_2", "sheaf", "eigenvalue", "RME H4L", "second eigenvalue of that Laplacian"),
        _q("dense_laplacian_trace", "sheaf", "trace", "RME H4L", "trace of that Laplacian"),
        _q(
            "nystrom_spectral_gap",
            "sheaf",
            "eigenvalue",
            "H4V2",
            "H4V2's Nystrom 'spectral gap' (eigvalsh of a non-symmetric Laplacian: ill-defined)",
        ),
        _q("nystrom_lambda_2", "sheaf", "eigenvalue", "H4V2", "H4V2's Nystrom lambda_2 (ill-defined)"),
        _q(
            "nystrom_graph_lambda_2",
            "sheaf",
            "eigenvalue",
            "H4V2",
            "second eigenvalue of D - A of the head-averaged attention (eigvalsh of a non-symmetric matrix)",
        ),
        _q(
            "trace_multihead",
            "sheaf",
            "trace",
            "H4V2 H4X",
            "sum over heads of (T - tr A_h) ||W_V^h||_F^2 per layer (Pythia W_V mis-sliced; H4X: packed 4-bit bytes)",
        ),
        _q(
            "trace_full",
            "sheaf",
            "trace",
            "H4V2 H4X",
            "(T - tr A) ||W_V^0||_F^2 with head-averaged A and head 0's W_V slice, per layer",
        ),
        # L*
        _q(
            "l_star_min_contraction",
            "l_star",
            "layer index",
            "RME",
            "argmin of contraction_ratio (np.argmin: the stored 21 is the first NaN; finite minimum is 10)",
        ),
        _q(
            "l_star_contraction_inflection",
            "l_star",
            "layer index",
            "RME",
            "argmax |second difference of contraction_ratio| + 1",
        ),
        _q("l_star_gap_max", "l_star", "layer index", "H4L", "argmax of the mean dense spectral gap"),
        _q("l_star_lambda2_max", "l_star", "layer index", "H4L", "argmax of the mean dense lambda_2"),
        _q(
            "l_star_gap_inflection",
            "l_star",
            "layer index",
            "H4L",
            "argmax |second difference of the mean dense spectral gap| + 1",
        ),
        _q(
            "l_star_trace",
            "l_star",
            "layer index",
            "H4V2",
            "argmax |np.gradient(mean trace_full)| (LSC's calibration targets)",
        ),
        _q("l_star_spectral", "l_star", "layer index", "H4V2", "argmax of the mean Nystrom spectral gap"),
        _q(
            "l_star_apriori",
            "prediction",
            "layers",
            "H4V2",
            "(L/2)(1 + tanh(5 (G - 1))) with the hard-coded known gain G",
        ),
        _q("l_star_trace_multihead", "l_star", "layer index", "H4X", "argmax |np.gradient(mean trace_multihead)|"),
        _q("l_star_attention_min", "l_star", "layer index", "FFN", "argmin of sublayer_attention_gain"),
        _q("l_star_mlp_max", "l_star", "layer index", "FFN", "argmax of sublayer_mlp_gain"),
        _q(
            "l_star_sign_change",
            "l_star",
            "layer index",
            "LSC",
            "LSC v3 'sign change' L* of |sum A - T| ||W_V||_F^2 (printed eq. 4: rounding noise), per prompt",
        ),
        _q("l_star_predicted", "prediction", "layers", "LSC", "L (0.11 + 0.012 L + 4.9 / H), the paper's eq. 6"),
        # weights
        _q(
            "wv_spectral",
            "weights",
            "spectral norm",
            "RME",
            "||W_V||_2 per layer of the notebook's 'W_V' (Pythia: rows 2d:3d of the fused QKV, mis-sliced)",
        ),
        _q(
            "wv_spectral_mean",
            "weights",
            "spectral norm",
            "OPA CSV",
            "mean over layers of ||W_V||_2 of the full W_V (Pythia mis-sliced)",
        ),
        _q("wv_frobenius_mean", "weights", "Frobenius norm", "OPA", "mean over layers of ||W_V||_F (full W_V)"),
        _q("wv_condition_mean", "weights", "condition number", "OPA", "mean over layers of cond(W_V)"),
        _q(
            "wo_mean",
            "weights",
            "norm (kind unknown)",
            "CSV",
            "'W_O Mean' of the restriction-map CSV: no notebook extracts W_O; producing code not in the materials",
        ),
        *[
            _q(f"{m}_{stat}", "weights", unit, nbs, f"{what} of {matrix}")
            for m, matrix, nbs in [
                ("wu", "W_U (unembedding, [V, d])", "MPI LLA"),
                ("we", "W_E (input embedding, [V, d])", "MPI"),
            ]
            for stat, unit, what in [
                ("frobenius", "Frobenius norm", "Frobenius norm"),
                ("spectral", "spectral norm", "spectral norm (largest singular value)"),
                ("row_norm_mean", "L2 norm", "mean row L2 norm"),
                ("row_norm_sd", "L2 norm", "SD of the row L2 norms"),
            ]
        ],
        *[
            _q(f"{m}_{stat}", "weights", unit, "MPI", f"{what} of {matrix}")
            for m, matrix in [("wu", "W_U"), ("we", "W_E")]
            for stat, unit, what in [
                ("row_norm_max", "L2 norm", "maximum row L2 norm"),
                ("row_norm_min", "L2 norm", "minimum row L2 norm"),
                ("abs_mean", "weight", "mean |w|"),
                ("abs_sd", "weight", "SD of |w|"),
                ("frobenius_normalized", "weight", "||W||_F / sqrt(V d)"),
                ("spectral_normalized", "weight", "sigma_max / sqrt(d)"),
            ]
        ],
        _q("wu_spectral_per_sqrt_vocab", "weights", "weight", "LLA", "sigma_max(W_U) / sqrt(V)"),
        _q("wu_we_frobenius_ratio", "weights", "ratio", "MPI", "||W_U||_F / ||W_E||_F"),
        _q(
            "effective_amplification",
            "weights",
            "spectral norm x ratio",
            "LLA",
            "sigma_max(W_U) x a hard-coded 'last gain' (0.48, 1.37, 2.85)",
        ),
        # architecture as recorded
        _q(
            "n_layers",
            "architecture",
            "count",
            "PFS CRG HRH SLP GUB G2L GJP 4MV MPI RME FFN H4L H4V2 H4X LSC CSV",
            "number of blocks L as recorded (GUB/G2L/GJP: hook calls; MPI: its 31 gains, not L)",
        ),
        _q("n_heads", "architecture", "count", "PFS CRG HRH RME H4V2 H4X LSC", "number of attention heads H"),
        _q("d_model", "architecture", "dimensions", "PFS CRG HRH SLP RME FFN MPI LLA", "model width d"),
        _q("d_head", "architecture", "dimensions", "PFS CRG HRH", "d // H as computed by the notebook"),
        _q("rho", "architecture", "ratio", "PFS CRG HRH", "head density H / d_head (notebook's d_head)"),
        _q("rotary_pct", "architecture", "fraction", "PFS", "rotary fraction of the head dimension"),
        _q("n_params", "architecture", "count", "SLP", "sum of numel over all parameters"),
        _q("n_hidden_states", "architecture", "count", "CRG HRH", "length of HF hidden_states (L + 1)"),
        _q("vocab_size", "architecture", "tokens", "MPI LLA", "rows of W_U / W_E"),
        _q("rope_theta", "architecture", "base", "LLA", "RoPE theta"),
        _q("rope_scaling_factor", "architecture", "factor", "LLA", "rope_scaling.factor"),
        _q("rope_low_freq_factor", "architecture", "factor", "LLA", "rope_scaling.low_freq_factor"),
        _q("rope_high_freq_factor", "architecture", "factor", "LLA", "rope_scaling.high_freq_factor"),
        _q(
            "rope_original_max_positions",
            "architecture",
            "tokens",
            "LLA",
            "rope_scaling.original_max_position_embeddings",
        ),
        _q("max_positions", "architecture", "tokens", "LLA", "max_position_embeddings"),
        _q("context_length", "architecture", "tokens", "LLA", "context length hard-coded in LLA"),
        # statistics computed by the notebooks
        _q(
            "rho_vs_gain_penultimate_block",
            "statistic",
            "r / p",
            "PFS",
            "correlation over the Pythia models of rho with mean gain_penultimate_block (the paper's 'depth' r)",
        ),
        _q(
            "h25_rule_accuracy",
            "statistic",
            "percent",
            "CRG HRH",
            "accuracy of 'rho >= 0.2 => dampen' (HRH stores a fraction, converted to percent)",
        ),
        _q(
            "entropy_vs_gain_last_block",
            "statistic",
            "r / p",
            "GUB",
            "correlation over a model's prompts of next_token_entropy with gain_last_block",
        ),
        _q(
            "complexity_vs_gain_last_block",
            "statistic",
            "r / p",
            "GUB",
            "Spearman correlation of the GU25 complexity ordinal with gain_last_block",
        ),
        _q(
            "cliche_vs_novel_entropy",
            "statistic",
            "t / p / d",
            "GUB",
            "Student t-test (equal variances) of entropy, Cliche vs Novel prompts (5 vs 5)",
        ),
        _q(
            "gain_last_block_vs_1",
            "statistic",
            "t / p",
            "G2L GJP",
            "one-sample t-test of gain_last_block against 1 (GJP's one-sided p tests the wrong side)",
        ),
        _q(
            "entropy_vs_bentov_deviation",
            "statistic",
            "r / p",
            "G2L",
            "Pearson correlation over prompts of entropy with |gain_last_block - 1|",
        ),
        _q(
            "entropy_vs_frobenius_gain_last_block",
            "statistic",
            "r / p",
            "IDT",
            "correlation over the 5 prompts of entropy with the R3 last-block gain",
        ),
        _q(
            "twin_gain_delta",
            "statistic",
            "gain",
            "TWN",
            "mean gain_last_block of the instruct twin minus that of its base (row on the instruct model)",
        ),
        _q("twin_gain_ratio", "statistic", "ratio", "TWN", "instruct mean / base mean (row on the instruct model)"),
        _q(
            "final_mlp_gain_vs_params",
            "statistic",
            "fit",
            "SLP",
            "linregress of log10(final MLP gain) on log10(n_params) over the 8 Pythia models",
        ),
        _q("swiglu_last_gain_ratio", "statistic", "ratio", "4MV", "LLaMA R3 last gain / Mistral's hard-coded 1.37"),
        _q("l_star_error_pct", "statistic", "percent of L", "LSC", "|l_star_predicted - l_star_sign_change| / L x 100"),
        _q("l_star_mape", "statistic", "percent of L", "LSC", "mean of l_star_error_pct over the models"),
        _q(
            "l_star_mape_improvement_pp", "statistic", "percentage points", "LSC", "v2 reference MAPE - this run's MAPE"
        ),
        _q(
            "l_star_calibration_matches",
            "statistic",
            "count",
            "LSC",
            "models whose empirical L* is within 2 of l_star_calibration (stored as 'k/n')",
        ),
        # constants hard-coded in the notebooks
        _q(
            "reference_gain",
            "constant",
            "ratio",
            "G2L GJP TWN 4MV LLA",
            "a gain copied from another run for comparison (e.g. Pythia 0.8, Mistral R3 1.37)",
        ),
        _q("reference_initial_gain", "constant", "ratio", "4MV", "Mistral 'initial explosion' 43.86 copied from MPI"),
        _q("reference_plateau_first_layer", "constant", "layer index", "4MV", "first layer of Mistral's 'plateau'"),
        _q("reference_plateau_last_layer", "constant", "layer index", "4MV", "last layer of Mistral's 'plateau'"),
        _q("reference_trace_multihead", "constant", "trace", "H4X", "H4V2 mean traces rounded, for comparison"),
        _q("known_gain", "constant", "ratio", "H4L H4V2 H4X", "the 'known gain' hard-coded per model"),
        _q("l_star_calibration", "constant", "layer index", "LSC", "calibration L* (= H4V2 l_star_trace)"),
        _q("l_star_mape_v2_reference", "constant", "percent of L", "LSC", "the v2 'argmax' run's MAPE, 15.7"),
        _q("hypothesized_scaling_exponent", "constant", "exponent", "SLP", "the hypothesised alpha = 0.35"),
    ]
}


def quantity(name: str) -> Quantity:
    """The catalogue entry of ``name`` (KeyError with the known names if absent)."""
    if name not in QUANTITIES:
        raise KeyError(f"unknown quantity '{name}'; known: {', '.join(sorted(QUANTITIES))}")
    return QUANTITIES[name]
