"""What a job's process tree used: CPU seconds, peak memory, GPU seconds.

Sampled from psutil every tick of the executor:

- **CPU seconds**: user + system time summed over every process of the tree
  ever seen, each at its last reading (so one that ended still counts).
  The kernel's own account of the job process and of every descendant it
  waited for (``wait4``'s rusage) is the other lower bound; the larger of
  the two is recorded. Short-lived children between two samples are caught
  by the second, processes that left the tree by the first.
- **Peak memory**: the highest sum of resident memory (RSS) over the tree at
  one sample, or the largest single process's peak RSS (rusage) if higher.
- **GPU seconds**: per sample, the seconds since the last one times the
  number of GPUs running a process of the tree, from NVML (``pynvml``) or
  ``nvidia-smi``. None when neither can query a GPU here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["GpuProbe", "TreeUsage", "Usage", "gpu_probe"]


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_seconds: float
    peak_memory_bytes: int
    gpu_seconds: float | None


class GpuProbe(Protocol):
    def pids_per_gpu(self) -> list[set[int]]:
        """For each GPU, the pids of the processes running on it."""


_NVML_QUERIES = ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses")


class _Nvml:
    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml

    def pids_per_gpu(self) -> list[set[int]]:
        nvml = self.nvml
        found: list[set[int]] = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            pids: set[int] = set()
            for query in _NVML_QUERIES:
                try:
                    pids |= {int(p.pid) for p in getattr(nvml, query)(handle)}
                except Exception:  # not supported on this device or driver
                    continue
            found.append(pids)
        return found


class _NvidiaSmi:
    def __init__(self, command: str) -> None:
        self.command = command
        self.gpus = self._gpus()

    def _query(self, *args: str) -> list[str]:
        done = subprocess.run(
            [self.command, *args, "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return [line.strip() for line in done.stdout.splitlines() if line.strip()]

    def _gpus(self) -> list[str]:
        return self._query("--query-gpu=uuid")

    def pids_per_gpu(self) -> list[set[int]]:
        by_gpu: dict[str, set[int]] = {uuid: set() for uuid in self.gpus}
        for line in self._query("--query-compute-apps=pid,gpu_uuid"):
            pid, _, uuid = (part.strip() for part in line.partition(","))
            if pid.isdigit():
                by_gpu.setdefault(uuid, set()).add(int(pid))
        return list(by_gpu.values())


def gpu_probe() -> GpuProbe | None:
    """A way to see which processes use which GPU here, or None (no GPU, no driver)."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() > 0:
            return _Nvml(pynvml)
    except Exception:  # not installed, no driver, or no GPU
        pass
    command = shutil.which("nvidia-smi")
    if command is None:
        return None
    try:
        probe = _NvidiaSmi(command)
    except (OSError, subprocess.SubprocessError):
        return None
    return probe if probe.gpus else None


class TreeUsage:
    """Running totals of a process tree's usage, fed one sample at a time."""

    #: nvidia-smi is a process start per reading: asked at most this often.
    SMI_INTERVAL = 2.0

    def __init__(self, gpus: GpuProbe | None) -> None:
        self.gpus = gpus
        self._cpu: dict[tuple[int, float], float] = {}
        self._peak_rss = 0
        self._gpu_seconds: float | None = 0.0 if gpus is not None else None
        self._gpu_at: float | None = None
        self._rusage_cpu = 0.0
        self._rusage_rss = 0

    def sample(self, processes: Iterable[Any]) -> None:
        """Read each live process of the tree (``psutil.Process`` objects)."""
        import psutil

        rss = 0
        pids: set[int] = set()
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    memory = process.memory_info().rss
                    key = (process.pid, process.create_time())
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            self._cpu[key] = max(self._cpu.get(key, 0.0), times.user + times.system)
            rss += memory
            pids.add(process.pid)
        self._peak_rss = max(self._peak_rss, rss)
        self._sample_gpus(pids)

    def _sample_gpus(self, pids: set[int]) -> None:
        if self.gpus is None or self._gpu_seconds is None:
            return
        now = time.monotonic()
        if self._gpu_at is None:
            self._gpu_at = now
            return
        if isinstance(self.gpus, _NvidiaSmi) and now - self._gpu_at < self.SMI_INTERVAL:
            return
        try:
            busy = sum(1 for on_gpu in self.gpus.pids_per_gpu() if on_gpu & pids)
        except Exception:  # the driver went away; keep what was measured
            self.gpus = None
            return
        self._gpu_seconds += busy * (now - self._gpu_at)
        self._gpu_at = now

    def add_rusage(self, rusage: Any) -> None:
        """The kernel's account of the job process and the descendants it waited for."""
        self._rusage_cpu = float(rusage.ru_utime + rusage.ru_stime)
        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
        self._rusage_rss = int(rusage.ru_maxrss) * scale

    def result(self) -> Usage:
        sampled = sum(self._cpu.values())
        gpu = None if self._gpu_seconds is None else round(self._gpu_seconds, 3)
        return Usage(
            cpu_seconds=round(max(sampled, self._rusage_cpu), 3),
            peak_memory_bytes=max(self._peak_rss, self._rusage_rss),
            gpu_seconds=gpu,
        )
