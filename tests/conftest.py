"""Shared test set-up.

* tests/ is importable, for helper modules such as conformance_configs;
* the tests never reach the Hugging Face Hub, whatever the environment says: loading code must fail
  fast and clearly without it (HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE are set to 1);
* every cache the code under test writes (HF_HOME, XDG_CACHE_HOME and THERMO_AUDIT_CACHE, which
  measure/loading.py reads at import) is in a temporary folder of this session, removed at its end;
  THERMO_AUDIT_TEST_CACHE names a persistent folder to use instead (the slow demo-model tests
  convert 350 MB of GGUF checkpoints into the cache, about a minute per session);
* in CI (CI=true or CI=1) the authors' published results must be there: their absence stops the
  session at its start with one message, instead of skipping every test that reads them;
* hypothesis is derandomised (the "deterministic" profile, 100 examples a test unless the test says
  otherwise), so a property test gives the same examples on every run; ``--hypothesis-profile
  explore`` draws fresh, and more, examples; "mutation" fewer, for tools/mutation.py.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

sys.path.insert(0, str(Path(__file__).parent))

TEST_CACHE_ENV = "THERMO_AUDIT_TEST_CACHE"


def _session_cache() -> tuple[Path, bool]:
    """The folder for this session's caches and whether it is a temporary one (removed at the end)."""
    if os.environ.get(TEST_CACHE_ENV):
        folder = Path(os.environ[TEST_CACHE_ENV]).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return folder, False
    return Path(tempfile.mkdtemp(prefix="thermo-audit-test-cache-")), True


# Set before any test module imports transformers, huggingface_hub or measure.loading.
CACHE, CACHE_IS_TEMPORARY = _session_cache()
_CREATOR_PID = os.getpid()
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HOME"] = str(CACHE / "huggingface")
os.environ["XDG_CACHE_HOME"] = str(CACHE / "xdg")
os.environ["THERMO_AUDIT_CACHE"] = str(CACHE / "thermo-audit")

settings.register_profile(
    "deterministic",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# tools/mutation.py runs every mutant against the property tests: fewer examples (a lower bound on what they catch)
settings.register_profile(
    "mutation", parent=settings.get_profile("deterministic"), max_examples=25, phases=[Phase.explicit, Phase.generate]
)  # a failure is a kill: no shrinking
settings.register_profile("explore", max_examples=500, database=None, deadline=None)
settings.load_profile("deterministic")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def pytest_sessionstart(session):
    if not in_ci():
        return
    from claims_fixtures import PUBLISHED_RESULTS

    if not PUBLISHED_RESULTS.is_dir():
        pytest.exit(
            f"CI={os.environ['CI']}: the authors' published results are required in CI and are not at "
            f"{PUBLISHED_RESULTS} (looked for shared/paper3/Results in every parent folder of tests/); "
            f"without them the tests that check the paper's numbers would all be skipped.",
            returncode=4,
        )


def pytest_report_header(config):
    kind = "temporary" if CACHE_IS_TEMPORARY else f"persistent, from {TEST_CACHE_ENV}"
    return f"thermo-audit: hub offline; caches in {CACHE} ({kind})"


def pytest_unconfigure(config):
    if CACHE_IS_TEMPORARY and os.getpid() == _CREATOR_PID:
        shutil.rmtree(CACHE, ignore_errors=True)
