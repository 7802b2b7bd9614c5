"""Model names as the authors' files spell them -> the registry's canonical ``model`` names.

The map is explicit: every spelling found in the files that is not already a registry name is
listed here (HF ids included), so no name is ever guessed from a substring. Labs come from the
registry (``data/panels/registry.csv``). An unknown spelling is an error naming the file.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from contract.errors import TableError
from contract.registry import load_registry, suggest

ALIASES: dict[str, str] = {
    # HF ids (HRH, H4L, H4V2, H4X, LSC, OPA, RME, FFN, IDT, CRG "path")
    "EleutherAI/pythia-160m": "pythia-160m",
    "EleutherAI/pythia-410m": "pythia-410m",
    "EleutherAI/pythia-1b": "pythia-1b",
    "EleutherAI/pythia-1.4b": "pythia-1.4b",
    "EleutherAI/pythia-2.8b": "pythia-2.8b",
    "EleutherAI/pythia-6.9b": "pythia-6.9b",
    "EleutherAI/gpt-j-6B": "gpt-j-6b",
    "EleutherAI/gpt-neo-125M": "gpt-neo-125m",
    "EleutherAI/gpt-neo-1.3B": "gpt-neo-1.3b",
    "EleutherAI/gpt-neo-2.7B": "gpt-neo-2.7b",
    "facebook/opt-125m": "opt-125m",
    "facebook/opt-350m": "opt-350m",
    "facebook/opt-1.3b": "opt-1.3b",
    "facebook/opt-2.7b": "opt-2.7b",
    "facebook/opt-6.7b": "opt-6.7b",
    "bigscience/bloom-560m": "bloom-560m",
    "bigscience/bloom-1b1": "bloom-1b1",
    "bigscience/bloom-1b7": "bloom-1b7",
    "bigscience/bloom-3b": "bloom-3b",
    "tiiuae/falcon-7b": "falcon-7b",
    "stabilityai/stablelm-base-alpha-3b": "stablelm-base-alpha-3b",
    "openai-community/gpt2": "gpt2",
    "google/gemma-2b": "gemma-2b",
    "mistralai/Mistral-7B-v0.1": "mistral-7b-v0.1",
    "meta-llama/Llama-3.1-8B": "llama-3.1-8b",
    # display names (GUB, G2L, GJP, TWN; TWN's "Family" names the base model)
    "Pythia-6.9B": "pythia-6.9b",
    "Gemma-7B": "gemma-7b",
    "Gemma-7B-Base": "gemma-7b",
    "Gemma-7B-IT": "gemma-7b-it",
    "Mistral-7B": "mistral-7b-v0.1",
    "Mistral-7B-Base": "mistral-7b-v0.1",
    "Mistral-7B-Instruct": "mistral-7b-instruct-v0.2",
    "LLaMA-3.1-8B": "llama-3.1-8b",
    "LLaMA-3.1-8B-Base": "llama-3.1-8b",
    "LLaMA-3.1-8B-Instruct": "llama-3.1-8b-instruct",
    "GPT-J-6B": "gpt-j-6b",
    "GPT2-Medium": "gpt2-medium",
    "GPT2-Large": "gpt2-large",
    "GPT2-XL": "gpt2-xl",
    # short keys (4MV, MPI, LLA, GJP "comparison", restriction-map CSV)
    "llama3.1-8b": "llama-3.1-8b",
    "gemma2-9b": "gemma-2-9b",
    "mistral-7b": "mistral-7b-v0.1",
    "apertus-8b": "apertus-8b-2509",
    "gpt-neo-125M": "gpt-neo-125m",
    "pythia_6.9b": "pythia-6.9b",
    "gpt2_xl": "gpt2-xl",
    "gptj_6b": "gpt-j-6b",
}


@lru_cache(maxsize=1)
def _registry() -> pd.DataFrame:
    return load_registry()


def canonical_model(spelling: str, file: str) -> str:
    """The registry name of ``spelling`` (a registry name maps to itself)."""
    registry = _registry()
    if spelling in registry.index:
        return spelling
    if spelling in ALIASES:
        return ALIASES[spelling]
    raise TableError(
        f"{file}: unknown model name '{spelling}' (add it to measure/published/aliases.py)."
        f"{suggest(spelling, list(registry.index) + list(ALIASES))}"
    )


def lab_of(model: str) -> str:
    """The registry's lab of a canonical model name."""
    return str(_registry().loc[model, "lab"])


def known_labs() -> set[str]:
    return set(_registry()["lab"].dropna())
