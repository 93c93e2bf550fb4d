"""The UI tests' feature store: ``tests.features._seed`` in project ``feature-shop`` of the
demo store, made once per session however many modules ask. Its own project, so the demo
project's pages (home's activity, the models list) stay as the other tests expect them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.features import _seed
from tests.ui._seed import settings

PROJECT = "feature-shop"
_SEEDED: dict[Path, _seed.FeatureSeed] = {}


def seed(home: Path, tmp_path_factory: pytest.TempPathFactory) -> _seed.FeatureSeed:
    if home not in _SEEDED:
        config = settings(home).model_copy(update={"project": PROJECT})
        _SEEDED[home] = _seed.seed_features(config, tmp_path_factory.mktemp("ui-features"))
    return _SEEDED[home]
