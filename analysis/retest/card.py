"""The claim card: every single-model law of the paper confronted with each of a researcher's models."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from analysis.claims.registry import Settings
from analysis.retest.evidence import Evidence
from analysis.retest.laws import LAWS
from analysis.retest.measured import ModelData
from analysis.sources import MeasuredSource, Source
from contract.errors import UnknownNameError
from contract.tables import CLAIM_CARD_TABLE, validate

# Sources a card's models may come from, in the order they are looked up.
MODEL_SOURCES = ("measured", "controls")


@dataclass
class Context:
    """What every check of one card shares: the published evidence, the settings, twin overrides."""

    evidence: Evidence
    settings: Settings
    twin_of: Mapping[str, str] = field(default_factory=dict)


def find_model(sources: Mapping[str, Source], model: str) -> MeasuredSource:
    """The measured (or controls) source holding ``model``; UnknownNameError with close names otherwise."""
    known: list[str] = []
    for name in MODEL_SOURCES:
        source = sources.get(name)
        if source is not None and model in set(source.models["model"]):
            return source
        if source is not None:
            known += list(source.models["model"])
    close = difflib.get_close_matches(model, known, n=3)
    hint = (
        f"; did you mean {', '.join(close)}?"
        if close
        else (f"; measured: {', '.join(sorted(known))}" if known else "; nothing is measured yet")
    )
    raise UnknownNameError(f"model {model!r} is not measured{hint}")


def claim_card(
    sources: Mapping[str, Source],
    models: Iterable[str],
    settings: Settings,
    *,
    prompt_set: str | None = None,
    twin_of: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per (model, law) of ``laws.LAWS``, validated against ``CLAIM_CARD_TABLE``.

    ``sources``: ``analysis.sources.load_sources(...)``; ``models``: names in its measured or
    controls source (an unknown name raises ``UnknownNameError`` before any work); ``prompt_set``:
    the prompt set of the measured values (default: each model's preferred one, GU25 first);
    ``twin_of``: {model: base model} overriding the models' ``twin_of`` facts.
    """
    models = list(dict.fromkeys(models))
    located = {model: find_model(sources, model) for model in models}
    context = Context(Evidence(sources["published"], settings), settings, dict(twin_of or {}))
    rows = []
    for model, source in located.items():
        data = ModelData(source, model, settings.confidence, prompt_set)
        rows += [law.row(data, context).as_dict(model) | {"prompt_set": data.prompt_set} for law in LAWS]
    frame = pd.DataFrame(rows, columns=list(CLAIM_CARD_TABLE.columns))
    return validate(frame, CLAIM_CARD_TABLE, "claim card")
