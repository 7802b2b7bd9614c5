"""The claims registry and one module per section of the paper; importing this package registers them all."""

from analysis.claims import kleiber  # noqa: F401  (registers the claims)
from analysis.claims.registry import CLAIMS, Claim, InsufficientData, Outcome, Settings, claim, missing

__all__ = ["CLAIMS", "Claim", "InsufficientData", "Outcome", "Settings", "claim", "missing"]
