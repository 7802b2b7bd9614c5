"""The claims registry and one module per section of the paper; importing this package registers them all.

The modules are imported in the paper's order, which is the order of the rows in claims.csv.
"""

# isort: off
from analysis.claims import overview, kleiber, heritage, spectral, sheaf, lstar  # noqa: F401
from analysis.claims import crowding, twins, hierarchy, robustness  # noqa: F401

# isort: on
from analysis.claims.registry import CLAIMS, Claim, Outcome, Settings, claim, missing
from analysis.needs import InsufficientData

__all__ = ["CLAIMS", "Claim", "InsufficientData", "Outcome", "Settings", "claim", "missing"]
