"""kiln.data's public surface: a sorted, complete __all__, a map, and a light import."""

from __future__ import annotations

import sys

import kiln.data
from tests.test_public_api import HEAVY, imported_modules, ruff_sort_key


def test_all_is_sorted_complete_and_resolves() -> None:
    names = kiln.data.__all__

    assert names == sorted(names, key=ruff_sort_key)
    public = {name for name in vars(kiln.data) if not name.startswith("_")}
    modules = {name for name in public if isinstance(getattr(kiln.data, name), type(sys))}
    assert public - modules == set(names)


def test_the_package_draws_its_map() -> None:
    doc = kiln.data.__doc__
    assert doc is not None
    for part in ("_fluent.py", "_service.py", "_hash.py", "_checks.py", "name@latest"):
        assert part in doc


def test_import_loads_no_numpy_arrow_or_pandas() -> None:
    modules = imported_modules("import kiln.data")

    heavy = HEAVY - {"pydantic"}
    assert sorted(name for name in modules if name.split(".")[0] in heavy) == []
