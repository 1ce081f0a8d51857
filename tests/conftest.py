"""Shared test fixtures: where the reference data lives, and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests explore new random inputs on every local run (that is how they find bugs);
# in CI (.ci/run sets GAITIMU_CI=1) they replay a fixed, derandomized set so that a landing
# does not depend on luck. A failure found locally is kept by hypothesis' example database.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("GAITIMU_CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data_dir(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not found at {path} (it lives in ../shared/data)")
    return path


@pytest.fixture
def shared_data() -> Path:
    return shared_data_dir()
