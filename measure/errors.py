"""Errors the measurement stage raises for bad input, each with a message a user can act on."""


class MeasureError(Exception):
    """Base class: a problem with the user's input or environment, reported without a traceback."""


class UnsupportedArchitectureError(MeasureError):
    """The model's ``config.model_type`` has no registered architecture adapter."""


class ModelLoadError(MeasureError):
    """A model or tokenizer could not be loaded (unknown id or path, missing file, refused weights)."""


class PromptError(MeasureError):
    """A prompt set is missing, empty, malformed, or a prompt does not fit the model's context."""


class TableError(MeasureError):
    """A CSV table is missing, lacks columns, or holds values that break the data contract."""


class UnknownNameError(MeasureError):
    """An unknown name was looked up in a registry (panel, prompt set, model); suggests close names."""
