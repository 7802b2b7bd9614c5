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

# Residual-stream sites (residual.site) and sublayers (sublayers.sublayer).
SITES = ("embedding", "block", "final_norm")
SUBLAYERS = ("attention", "mlp")

# The unit of analysis of a claim's test (claims.unit): what its n counts.
UNITS = ("model", "family", "lab", "prompt", "layer", "head", "pair", "file")

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
