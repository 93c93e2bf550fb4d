"""shap, imported once per session the way kiln.explain imports it (its import warns)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def shap() -> Any:
    from kiln.explain._shap import import_shap

    return import_shap()
