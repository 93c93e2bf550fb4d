"""kiln.pipelines' public surface: a sorted, complete __all__ and a light import."""

from __future__ import annotations

import kiln.pipelines
from tests.test_public_api import HEAVY, imported_modules, ruff_sort_key


def test_all_is_sorted_and_resolves() -> None:
    names = kiln.pipelines.__all__

    assert names == sorted(names, key=ruff_sort_key)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(kiln.pipelines, name) is not None, name


def test_every_public_name_is_exported() -> None:
    public = {name for name in dir(kiln.pipelines) if not name.startswith("_")}
    modules = {name for name in public if isinstance(getattr(kiln.pipelines, name), type(kiln))}

    assert public - modules - {"annotations", "importlib", "TYPE_CHECKING", "Any"} == set(
        kiln.pipelines.__all__
    )


def test_the_package_documents_its_map() -> None:
    assert kiln.pipelines.__doc__ is not None
    assert "Runner.submit" in kiln.pipelines.__doc__


def test_import_loads_no_data_library_and_no_database_code() -> None:
    modules = imported_modules("import kiln.pipelines")

    heavy = HEAVY | {"yaml", "psutil", "multiprocessing"}
    assert sorted(name for name in modules if name.split(".")[0] in heavy) == []
