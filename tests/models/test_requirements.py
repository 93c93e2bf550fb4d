"""Requirements: exact pins from installed metadata, fast."""

from __future__ import annotations

import time
from importlib import metadata

import pytest

from kiln.errors import InvalidInput
from kiln.models import get_flavor
from kiln.models._requirements import collect_requirements, normalize_name


def test_pins_are_exact_installed_versions() -> None:
    pins = collect_requirements(get_flavor("sklearn").packages)

    assert f"scikit-learn=={metadata.version('scikit-learn')}" in pins
    assert f"skops=={metadata.version('skops')}" in pins
    assert all("==" in pin for pin in pins)
    assert list(pins) == sorted(pins, key=lambda pin: normalize_name(pin.split("==")[0]))


def test_uninstalled_flavor_packages_are_skipped() -> None:
    assert collect_requirements(["numpy", "kiln-no-such-dist"]) == (
        f"numpy=={metadata.version('numpy')}",
    )


def test_caller_pins_replace_or_add() -> None:
    pins = collect_requirements(["numpy"], ["NumPy>=1.0", "PyYAML", "pandas[performance]"])

    assert "NumPy>=1.0" in pins
    assert f"PyYAML=={metadata.version('pyyaml')}" in pins
    assert f"pandas[performance]=={metadata.version('pandas')}" in pins
    assert not any(pin.startswith("numpy==") for pin in pins)


@pytest.mark.parametrize("bad", ["kiln-no-such-dist", "not a name", "pkg==", 3])
def test_bad_caller_requirements_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        collect_requirements([], [bad])  # type: ignore[list-item]
    assert caught.value.field == "requirements"


def test_requirements_take_well_under_50_ms() -> None:
    packages = {
        name
        for flavor in ("sklearn", "xgboost", "lightgbm", "onnx")
        for name in get_flavor(flavor).packages
    }
    started = time.perf_counter()
    pins = collect_requirements([*packages, "pandas"])
    elapsed = time.perf_counter() - started

    print(f"{len(pins)} requirement pins in {elapsed * 1e3:.2f} ms")
    assert len(pins) >= 8
    assert elapsed < 0.5  # a loose guard; the measured figure is in docs/models.md
