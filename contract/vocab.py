"""Words of the data contract that several stages spell, defined once."""

# Dtypes a model can be measured in (weights and activations); reductions are float32 or better.
DTYPES = ("float32", "bfloat16", "float16")

# Where a measured model's weights came from (models.source).
MODEL_SOURCES = ("hub", "local", "gguf", "random-init")

# The data sources every claim is re-tested on (claims.source): the authors' published numbers,
# our measurements of pretrained models, our random-init controls of the same architectures.
DATA_SOURCES = ("published", "measured", "controls")

# Named panels of the model registry (registry.panels, ';'-separated).
PANELS = ("paper3", "arch-controls", "offline-demo")
# Panels whose models are measured with random weights.
RANDOM_INIT_PANELS = ("arch-controls",)

# The verdict of a claim on one source after the proper analysis (claims.holds); "error": the
# claim's computation failed on this source (the message is in the note), the run went on.
HOLDS = ("holds", "fails", "inconclusive", "error")
# statcheck-style comparison of the printed value with the recomputed one (claims.reproduces).
REPRODUCES = ("yes", "no", "not recomputable")

# Architecture facts an adapter reads from a config (measure.adapters.base.Architecture; models.csv).
NORM_TYPES = ("LayerNorm", "RMSNorm")
NORM_PLACEMENTS = ("pre", "post")
POSITIONAL = ("learned", "rotary", "alibi")

# Residual-stream sites (residual.site) and sublayers (sublayers.sublayer).
SITES = ("embedding", "block", "final_norm")
SUBLAYERS = ("attention", "mlp")

# The unit of analysis of a claim's test (claims.unit): what its n counts.
UNITS = ("model", "family", "lab", "prompt", "layer", "head", "pair", "file")

# What kind of number a claim's value is (claims.kind), set by the claim from the statistic it computes; the
# report writes and draws the value by it:
#   correlation            a correlation coefficient on [-1, 1] (Pearson, partial, intraclass); 0 = none
#   slope                  a regression slope, in units of the response per unit of the predictor; 0 = none
#   ratio                  a quotient of two positive quantities (a gain, a ratio of norms or of means); 1 = equal
#   proportion             a share on [0, 1], or a relative change or error as a share (written in percent)
#   proportion_difference  a difference of two shares (written in percentage points); 0 = none
#   difference             a difference of two means, in their units (gain units); 0 = none
#   accuracy               the share of correct classifications (written in percent)
#   auc                    the area under a ROC curve, P(a unit of one class ranks above one of the other); 0.5 = chance
#   count                  a whole number of things
#   p_value                the value is itself a p-value
#   relative_error         a numerical discrepancy |a - b| / |b|, zero when an identity holds
#   other                  none of these (a threshold, a contraction factor)
KINDS = (
    "correlation",
    "slope",
    "ratio",
    "proportion",
    "proportion_difference",
    "difference",
    "accuracy",
    "auc",
    "count",
    "p_value",
    "relative_error",
    "other",
)

# The verdict of a law on one model in a claim card (claim_card.consistent): the measured value
# lies in the law's interval or has the predicted sign, or not; "not applicable": the law makes no
# prediction for this model or its data are missing (the note says which); "error": the check
# failed on this model's data (the message is in the note), the card went on.
CARD_VERDICTS = ("consistent", "inconsistent", "not applicable", "error")
# The quantity of a card's sign laws (claim_card.quantity): the law predicts P(dampen) and a sign, the
# model's mean gain is measured.
CARD_SIGN_QUANTITY = "predicted: P(dampen); measured: mean gain"
# The published panel with the re-tested models added (the combined_* columns of panel_shift).
COMBINED_PANEL = "published+yours"
