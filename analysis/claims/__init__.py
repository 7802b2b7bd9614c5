"""The claims registry and one module per section of the paper; importing this package registers them all."""

from analysis.claims import (  # noqa: F401  (each module registers its claims)
    crowding,
    heritage,
    hierarchy,
    kleiber,
    lstar,
    robustness,
    sheaf,
    spectral,
    twins,
)
from analysis.claims.registry import CLAIMS, Claim, InsufficientData, Outcome, Settings, claim, missing

__all__ = ["CLAIMS", "Claim", "InsufficientData", "Outcome", "Settings", "claim", "missing"]
