"""Architecture adapters, registered by Hugging Face ``config.model_type``.

``get_adapter(model_type)`` returns the adapter or raises UnsupportedArchitectureError naming
the supported architectures. Adding a family: write one small module with an ``Adapter``
subclass, add it to ``_ADAPTER_CLASSES`` and to the conformance suite's tiny configs
(tests/conformance_configs.py); the suite must pass before the family is usable.
"""

from __future__ import annotations

from contract.errors import UnsupportedArchitectureError
from contract.registry import suggest
from measure.adapters.base import Adapter, Architecture, HeadWeights, Sublayer
from measure.adapters.bloom import BloomAdapter
from measure.adapters.falcon import FalconAdapter
from measure.adapters.gpt2 import GPT2Adapter
from measure.adapters.gpt_neo import GPTNeoAdapter
from measure.adapters.gpt_neox import GPTNeoXAdapter
from measure.adapters.gptj import GPTJAdapter
from measure.adapters.llama import Gemma2Adapter, LlamaAdapter
from measure.adapters.opt import OPTAdapter

_ADAPTER_CLASSES = (
    GPT2Adapter,
    GPTNeoXAdapter,
    GPTJAdapter,
    GPTNeoAdapter,
    OPTAdapter,
    BloomAdapter,
    FalconAdapter,
    LlamaAdapter,
    Gemma2Adapter,
)

ADAPTERS: dict[str, Adapter] = {model_type: cls() for cls in _ADAPTER_CLASSES for model_type in cls.model_types}


def supported_model_types() -> list[str]:
    return sorted(ADAPTERS)


def get_adapter(model_type: str) -> Adapter:
    """The adapter for ``model_type``; an unknown type is an error listing the supported ones."""
    try:
        return ADAPTERS[model_type]
    except KeyError:
        raise UnsupportedArchitectureError(
            f"Architecture '{model_type}' is not supported (no adapter registered)."
            f"{suggest(model_type, list(ADAPTERS))} "
            f"Supported model types: {', '.join(supported_model_types())}."
        ) from None


__all__ = ["Adapter", "Architecture", "HeadWeights", "Sublayer", "ADAPTERS", "get_adapter", "supported_model_types"]
