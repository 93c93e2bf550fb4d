"""The flavor registry: the built-in table, entry points, install hints."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kiln.errors import InvalidInput, NotFound
from kiln.models import ENTRY_POINT_GROUP, Flavor, get_flavor, known_flavors, load_model, save_model
from kiln.models._flavor import BUILTIN_FLAVORS, detect_flavor

PLUGIN = '''
from __future__ import annotations

import json

import numpy as np

from kiln.models import Flavor, ModelFunctions, SavedModel


class Constant(dict):
    """A toy model: one number for every row."""


class ConstantFlavor(Flavor):
    name = "constant"
    packages = ("numpy",)

    def detect(self, obj):
        return isinstance(obj, Constant)

    def save(self, obj, folder, *, options, allow_pickle, input_example):
        (folder / "constant.json").write_text(json.dumps(dict(obj)))
        return SavedModel(serialization="json", options={"rows": "any"})

    def load(self, folder, manifest, *, allow_pickle, trusted_types):
        return Constant(json.loads((folder / "constant.json").read_text()))

    def functions(self, native, options):
        return ModelFunctions(predict=lambda data: np.full(len(data), native["value"]))
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type]:
    """A real installed distribution declaring a kiln.flavors entry point."""
    site = tmp_path / "site"
    dist_info = site / "kiln_constant_flavor-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kiln-constant-flavor\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nconstant = kiln_constant_flavor:ConstantFlavor\n"
        "sklearn = kiln_constant_flavor:ConstantFlavor\n"
    )
    (site / "kiln_constant_flavor.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "kiln_constant_flavor", raising=False)
    import kiln_constant_flavor  # type: ignore[import-not-found]

    yield kiln_constant_flavor.Constant
    sys.modules.pop("kiln_constant_flavor", None)


def test_builtins_are_known_in_detection_order() -> None:
    assert known_flavors() == list(BUILTIN_FLAVORS)
    assert known_flavors()[-1] == "python_function"
    assert known_flavors().index("xgboost") < known_flavors().index("sklearn")
    for name in BUILTIN_FLAVORS:
        flavor = get_flavor(name)
        assert isinstance(flavor, Flavor)
        assert flavor.name == name


def test_an_entry_point_flavor_saves_and_loads(tmp_path: Path, plugin: type) -> None:
    assert known_flavors()[0] == "constant"
    model = plugin(value=7)

    info = save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")

    assert info.flavor == "constant"
    assert info.manifest.requirements[0].startswith("numpy==")
    assert loaded.predict(np.zeros((3, 1))).tolist() == [7, 7, 7]


def test_an_entry_point_cannot_replace_a_builtin(plugin: type) -> None:
    assert get_flavor("sklearn").__class__.__name__ == "SklearnFlavor"
    assert known_flavors().count("sklearn") == 1


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="unknown model flavor 'catboost'") as caught:
        get_flavor("catboost")
    assert "xgboost" in str(caught.value)
    assert caught.value.field == "flavor"


def test_a_missing_library_names_the_extra_to_install() -> None:
    class NeedsMissing(Flavor):
        name = "missing"
        extra = "ml"

        def detect(self, obj: object) -> bool:
            return False

        def save(self, obj, folder, *, options, allow_pickle, input_example):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def load(self, folder, manifest, *, allow_pickle, trusted_types):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def functions(self, native, options):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    with pytest.raises(NotFound, match=r"install kiln-ml\[ml\] to use the missing flavor"):
        NeedsMissing().require("kiln_no_such_library.core")


def test_a_flavor_table_entry_that_cannot_import_is_explained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(BUILTIN_FLAVORS, "ghost", "kiln.models._ghost:GhostFlavor")

    with pytest.raises(NotFound, match="install the package that provides it"):
        get_flavor("ghost")
    with pytest.raises(NotFound):
        detect_flavor(object())
