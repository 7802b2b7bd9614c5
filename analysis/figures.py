"""Tidy tables behind the report's figures (filled in below)."""

from __future__ import annotations


def figure_tables(sources, settings) -> dict:
    return {}
