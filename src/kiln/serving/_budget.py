"""What a model needs to be served, checked before it is loaded: a device and memory.

Every Kiln model's manifest records its infra needs (``InfraNeeds``:
device, and the memory loading and serving it takes, measured at save time).
The server reads the manifest — without loading the model — when it
starts, and refuses a model that needs a GPU it does not have, or more
memory than the machine has or than the server's memory budget allows:
better a clear error at deploy than an out-of-memory kill under traffic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kiln.errors import InvalidInput

__all__ = ["ModelNeeds", "check_needs", "gpu_available", "read_needs"]


@dataclass(frozen=True, slots=True)
class ModelNeeds:
    """The device and the memory (MiB, loaded and serving) a model's manifest declares."""

    device: str
    memory_mb: int
    measured: bool


def read_needs(uri: str) -> ModelNeeds:
    """The needs of the model at ``uri``, from its manifest (files fetched, nothing loaded).

    A model in MLflow's format has no Kiln manifest: it counts as 1 MiB on
    the CPU, unmeasured. A graph needs what its models need together.
    """
    from kiln.models import read_manifest
    from kiln.registry._load import model_folder

    if uri.startswith("graph:"):  # a graph holds each of its models
        from kiln.serving._graph_spec import model_uris, read_graph

        members = [read_needs(member) for member in model_uris(read_graph(uri))]
        device = "gpu" if any(m.device == "gpu" for m in members) else "cpu"
        memory = sum(m.memory_mb for m in members)
        return ModelNeeds(device, memory, all(m.measured for m in members))
    folder = model_folder(uri)
    if not (folder / "kiln-model.yaml").is_file():
        return ModelNeeds("cpu", 1, False)
    infra = read_manifest(folder).infra
    return ModelNeeds(
        infra.device, max(infra.memory_serve_mb, infra.memory_load_mb), infra.measured
    )


def gpu_available() -> bool:
    """Whether this machine has an NVIDIA GPU with its driver loaded."""
    return os.path.exists("/proc/driver/nvidia/version") or bool(os.environ.get("KILN_SERVE_GPU"))


def machine_memory_mb() -> int:
    import psutil

    return int(psutil.virtual_memory().total // (1 << 20))


def check_needs(uri: str, needs: ModelNeeds, budget_mb: int | None) -> None:
    """Refuse a model this server cannot hold, naming what it needs and what there is."""
    if needs.device == "gpu" and not gpu_available():
        raise InvalidInput(
            f"the model {uri} needs a GPU (its manifest says device: gpu) and this machine has "
            "none; serve it where there is one, or save it with infra={'device': 'cpu'}",
            field="device",
        )
    total = machine_memory_mb()
    if needs.memory_mb > total:
        raise InvalidInput(
            f"the model {uri} needs {needs.memory_mb:,} MiB to serve and this machine has "
            f"{total:,} MiB",
            field="memory",
        )
    if budget_mb is not None and needs.memory_mb > budget_mb:
        raise InvalidInput(
            f"the model {uri} needs {needs.memory_mb:,} MiB to serve, more than the server's "
            f"memory budget of {budget_mb:,} MiB; raise --memory-budget-mb",
            field="memory",
        )
