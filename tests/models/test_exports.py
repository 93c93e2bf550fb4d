"""kiln.models' public surface: a sorted, complete __all__ and a light import."""

from __future__ import annotations

import subprocess
import sys

import kiln.models
from tests.test_public_api import HEAVY, imported_modules, ruff_sort_key


def test_all_is_sorted_and_resolves() -> None:
    names = kiln.models.__all__

    assert names == sorted(names, key=ruff_sort_key)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(kiln.models, name) is not None, name


def test_every_public_name_is_exported() -> None:
    public = {name for name in vars(kiln.models) if not name.startswith("_")}
    modules = {name for name in public if isinstance(getattr(kiln.models, name), type(sys))}

    assert public - modules - {"annotations"} == set(kiln.models.__all__)


def test_the_package_documents_its_map() -> None:
    assert kiln.models.__doc__ is not None
    assert "kiln-model.yaml" in kiln.models.__doc__
    assert len(kiln.models.__doc__.splitlines()) > 10


def test_import_loads_no_ml_library() -> None:
    modules = imported_modules("import kiln.models")

    heavy = HEAVY | {"lightgbm", "onnx", "onnxruntime", "skops", "scipy", "yaml", "psutil"}
    assert sorted(name for name in modules if name.split(".")[0] in heavy) == []


def test_import_is_fast() -> None:
    code = (
        "import time; t = time.perf_counter(); import kiln.models; print(time.perf_counter() - t)"
    )
    timings = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(3)
    ]
    assert min(timings) < 0.2, f"import kiln.models took {min(timings):.3f} s"
