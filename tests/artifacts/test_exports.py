"""The public surface of ``kiln.artifacts`` stays sealed, sorted and cheap to import."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import kiln.artifacts

HEAVY = ("fsspec", "pandas", "pyarrow", "numpy", "sqlalchemy", "fastapi")


def test_all_is_sorted_and_complete() -> None:
    exported = list(kiln.artifacts.__all__)
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(kiln.artifacts).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    } - {"annotations"}
    assert public == set(exported)


def test_public_names_belong_to_private_modules() -> None:
    for name in kiln.artifacts.__all__:
        module = getattr(kiln.artifacts, name).__module__
        assert module.startswith("kiln.artifacts._"), (name, module)


def test_import_is_cheap() -> None:
    code = "import json, sys, kiln.artifacts; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == []
