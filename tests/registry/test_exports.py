"""kiln.registry's public surface: a sorted, complete __all__, a map, and no ML at import."""

from __future__ import annotations

import sys

import kiln.registry
from tests.test_public_api import HEAVY, imported_modules, ruff_sort_key


def test_all_is_sorted_complete_and_resolves() -> None:
    names = kiln.registry.__all__

    assert names == sorted(names, key=ruff_sort_key)
    public = {name for name in vars(kiln.registry) if not name.startswith("_")}
    modules = {name for name in public if isinstance(getattr(kiln.registry, name), type(sys))}
    assert public - modules == set(names)
    for name in names:
        assert getattr(kiln.registry, name) is not None, name


def test_the_package_draws_its_map() -> None:
    doc = kiln.registry.__doc__
    assert doc is not None
    for part in ("_fluent.py", "_backend.py", "_aliases.py", "_gates.py", "models:/"):
        assert part in doc


def test_import_loads_no_ml_or_web_library() -> None:
    modules = imported_modules("import kiln.registry")

    heavy = (HEAVY - {"sqlalchemy", "alembic", "pydantic"}) | {"skops", "yaml", "onnx"}
    assert sorted(name for name in modules if name.split(".")[0] in heavy) == []
