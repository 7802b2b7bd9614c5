"""The errors of thermo-audit: one base class, one subclass per kind of problem.

Every expected failure (a user's mistake, a missing or damaged file, an unsupported model)
raises a ``ThermoAuditError`` subclass with a message a user can act on; the command lines
print it in one line and exit with status 2 (``-v`` shows the traceback). Anything else is a
bug and keeps its traceback.
"""


class ThermoAuditError(Exception):
    """Base class: a problem with the user's input, data or environment, reported without a traceback."""


class UsageError(ThermoAuditError):
    """A command-line option or argument is invalid (checked before any work starts)."""


class UnsupportedArchitectureError(ThermoAuditError):
    """The model's ``config.model_type`` has no registered architecture adapter."""


class ModelLoadError(ThermoAuditError):
    """A model or tokenizer could not be loaded (unknown id or path, missing file, refused weights)."""


class PromptError(ThermoAuditError):
    """A prompt set is missing, empty, malformed, or a prompt does not fit the model's context."""


class TableError(ThermoAuditError):
    """A CSV table is missing, lacks columns, or holds values that break the data contract."""


class UnknownNameError(ThermoAuditError):
    """An unknown name was looked up in a registry (panel, prompt set, model, claim); suggests close names."""


class StorageError(ThermoAuditError):
    """A write failed (full disk, no permission): nothing of what was being written is visible."""
