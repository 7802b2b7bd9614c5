"""The transition layer L*: every definition the notebooks used (methods.md 2.8), NaN-safe, and eq. 6.

Each definition takes a per-layer profile (a 1-d array over layers, e.g. the multi-head sheaf trace
or the restriction-map contraction ratio) and returns a layer index. ``np.argmax`` and
``np.argmin`` return the first NaN's index when a profile holds NaN (the notebooks' artefact:
RME's stored L* = 21 is the first of its NaN layers); the functions here ignore NaN, and
``lands_on_nan`` says whether the notebooks' plain call would have landed on one.
"""

from __future__ import annotations

import numpy as np


def formula(n_layers, n_heads):
    """The paper's eq. 6, L (0.11 + 0.012 L + 4.9 / H), unclamped (layers)."""
    n_layers = np.asarray(n_layers, dtype=float)
    return n_layers * (0.11 + 0.012 * n_layers + 4.9 / np.asarray(n_heads, dtype=float))


def steepest(profile: np.ndarray) -> np.ndarray:
    """H4V2 / H4X: argmax over layers of |np.gradient| (central differences) along the last axis."""
    return np.nanargmax(np.abs(np.gradient(profile, axis=-1)), axis=-1)


def steepest_rise(profile: np.ndarray) -> int:
    """Paper App. E: argmax over layers of the signed derivative (np.gradient) of the profile."""
    return int(np.nanargmax(np.gradient(profile)))


def sign_change(profile: np.ndarray) -> int:
    """LSC v3: with d_i = P_{i+1} - P_i, the first i + 1 with d_i > 0 and d_{i+1} < 0 (first interior
    local maximum); else the argmax if interior ("peak"); else the last index with |d| >= half the
    largest |d|, plus 1 ("gradient drop"); else L // 2."""
    profile = np.asarray(profile, dtype=float)
    diff = np.diff(profile)
    for i in range(len(diff) - 1):
        if diff[i] > 0 and diff[i + 1] < 0:
            return i + 1
    if np.isfinite(profile).any():
        peak = int(np.nanargmax(profile))
        if 0 < peak < len(profile) - 1:
            return peak
    magnitude = np.abs(diff)
    if np.isfinite(magnitude).any() and np.nanmax(magnitude) > 0:
        return int(np.flatnonzero(magnitude >= 0.5 * np.nanmax(magnitude))[-1]) + 1
    return len(profile) // 2


def least(profile: np.ndarray) -> int:
    """RME: argmin over layers of the contraction ratio, NaN ignored."""
    return int(np.nanargmin(profile))


def sharpest_bend(profile: np.ndarray) -> int:
    """RME / H4L: argmax of |second difference| + 1, NaN ignored."""
    return int(np.nanargmax(np.abs(np.diff(profile, n=2)))) + 1


def lands_on_nan(profile: np.ndarray, how: str = "argmax") -> bool:
    """Whether the notebooks' plain np.argmax / np.argmin of ``profile`` returns a NaN layer."""
    profile = np.asarray(profile, dtype=float)
    index = np.argmax(profile) if how == "argmax" else np.argmin(profile)
    return bool(np.isnan(profile[index]))
