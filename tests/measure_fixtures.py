"""Tiny models with a character tokenizer, saved to folders and measured: shared by the measurement
and data-layer tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from conformance_configs import build_tiny_model
from tokenizers import Regex, Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from measure.loading import load_model
from measure.prompts import read_prompt_file
from measure.runner import RunOptions, measure_model

PROMPTS = ["abc def", "x", "hello world, again", "the cat sat"]


def char_tokenizer() -> PreTrainedTokenizerFast:
    """One token per printable character (ids 2..96); pad 0, unk 1."""
    vocab = {"[PAD]": 0, "[UNK]": 1} | {chr(c): c - 30 for c in range(32, 127)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]")


def save_tiny(arch: str, folder: Path) -> Path:
    """A tiny random model of configuration ``arch`` (tests/conformance_configs.py) with the character
    tokenizer, saved to ``folder``."""
    build_tiny_model(arch).save_pretrained(folder)
    char_tokenizer().save_pretrained(folder)
    return folder


def measure_tiny(arch: str, name: str, workdir: Path, attention: bool = True) -> dict[str, pd.DataFrame]:
    """The run tables of a tiny ``arch`` model named ``name`` on the four PROMPTS (set "prompts")."""
    folder = save_tiny(arch, workdir / f"{name}-model")
    prompt_file = workdir / "prompts.csv"
    pd.DataFrame({"text": PROMPTS}).to_csv(prompt_file, index=False)
    loaded = load_model(str(folder), attention=attention, device="cpu", name=name)
    return measure_model(
        loaded, read_prompt_file(prompt_file), RunOptions(batch_size=3, attention=attention, progress=False)
    )
