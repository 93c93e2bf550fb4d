"""The pytorch flavor: TorchScript, and a state_dict plus a code reference.

torch is optional (``kiln-ml[torch]``): without it these tests skip, except
under ``CI=true``, where a missing torch fails them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kiln.errors import InvalidInput, PermissionDenied
from kiln.models import load_model, read_manifest, save_model
from tests.conftest import IN_CI

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    if IN_CI:
        raise
    pytest.skip("torch is not installed; install kiln-ml[torch]", allow_module_level=True)


class TinyNet(torch.nn.Module):
    """Importable by name (tests.models.test_pytorch:TinyNet), as the state_dict format needs."""

    def __init__(self, features: int = 4, hidden: int = 8) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(features, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.layers(x), dim=-1)


@pytest.fixture
def net() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet().eval()


@pytest.fixture
def rows() -> np.ndarray:
    return np.random.default_rng(4).random((32, 4)).astype(np.float32)


def expected(net: TinyNet, rows: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        result: np.ndarray = net(torch.from_numpy(rows)).numpy()
    return result


def test_torchscript_round_trip(tmp_path: Path, net: TinyNet, rows: np.ndarray) -> None:
    info = save_model(net, tmp_path / "ts", input_example=rows[:3])
    loaded = load_model(tmp_path / "ts")

    assert info.flavor == "pytorch"
    assert info.manifest.serialization == "torchscript"
    assert info.manifest.infra.device == "cpu"
    assert any(pin.startswith("torch==") for pin in info.manifest.requirements)
    np.testing.assert_allclose(loaded.predict(rows), expected(net, rows), rtol=1e-6)
    assert loaded.predict(rows[:1]).shape == (1, 2)
    assert not hasattr(loaded, "predict_proba")
    assert isinstance(load_model(tmp_path / "ts", native=True), torch.jit.ScriptModule)


def test_state_dict_with_a_code_reference(tmp_path: Path, rows: np.ndarray) -> None:
    torch.manual_seed(1)
    net = TinyNet(features=4, hidden=16).eval()

    info = save_model(
        net,
        tmp_path / "sd",
        input_example=rows[:3],
        flavor_options={"format": "state_dict", "init_kwargs": {"features": 4, "hidden": 16}},
    )
    native = load_model(tmp_path / "sd", native=True)

    assert info.manifest.serialization == "torch-state-dict"
    assert info.manifest.flavor_options["code"] == "tests.models.test_pytorch:TinyNet"
    assert isinstance(native, TinyNet)
    assert not native.training
    np.testing.assert_allclose(load_model(tmp_path / "sd").predict(rows), expected(net, rows))


def test_state_dict_refuses_a_code_reference_that_is_not_a_module(
    tmp_path: Path, net: TinyNet
) -> None:
    save_model(net, tmp_path / "sd", flavor_options={"format": "state_dict"})
    manifest = tmp_path / "sd" / "kiln-model.yaml"
    manifest.write_text(
        manifest.read_text().replace("tests.models.test_pytorch:TinyNet", "subprocess:Popen")
    )

    with pytest.raises(PermissionDenied, match=r"not a torch\.nn\.Module"):
        load_model(tmp_path / "sd")
    assert read_manifest(tmp_path / "sd").flavor_options["code"] == "subprocess:Popen"


def test_state_dict_needs_an_importable_class(tmp_path: Path) -> None:
    class Local(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(InvalidInput, match="importable by name"):
        save_model(Local(), tmp_path / "m", flavor_options={"format": "state_dict"})


def test_unknown_format_is_refused(tmp_path: Path, net: TinyNet) -> None:
    with pytest.raises(InvalidInput, match="torchscript, state_dict") as caught:
        save_model(net, tmp_path / "m", flavor_options={"format": "onnx"})
    assert caught.value.field == "flavor_options.format"
