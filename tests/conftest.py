"""Fixtures shared across the test packages: a tiny toy SavedModel (several versions)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures import toy_model

VERSIONS = (1, 2, 3)


@pytest.fixture(scope="session")
def toy_base(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A model base path with versions 1, 2, 3 (weights seeded by the version)."""
    base = str(tmp_path_factory.mktemp("models") / "toy")
    for version in VERSIONS:
        toy_model.write_toy_model(base, version)
    return base


@pytest.fixture(scope="session")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 17, (5, toy_model.NUM_PIXELS)).astype(np.int64)
