"""System metrics sampled on a background thread while a run is active.

CPU and memory of the machine (and of this process) come from psutil; GPU
utilisation and memory come from NVML when ``pynvml``/``nvidia-ml-py`` and a GPU
are present. Keys live under ``system/``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kiln.tracking._entities import Metric, Param
from kiln.tracking._runs import now_ms

Writer = Callable[[str, list[Metric], list[Param], list[tuple[str, str]]], None]


def sample() -> dict[str, float]:
    """One reading of the machine's (and this process's) resource use."""
    import psutil

    memory = psutil.virtual_memory()
    process = psutil.Process()
    values = {
        "system/cpu_utilization_percentage": psutil.cpu_percent(interval=None),
        "system/memory_usage_megabytes": (memory.total - memory.available) / 2**20,
        "system/memory_usage_percentage": memory.percent,
        "system/process_memory_rss_megabytes": process.memory_info().rss / 2**20,
    }
    values.update(_gpu())
    return values


def _gpu() -> dict[str, float]:
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return {}
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver or no GPU
        return {}
    values: dict[str, float] = {}
    for index in range(pynvml.nvmlDeviceGetCount()):
        handle: Any = pynvml.nvmlDeviceGetHandleByIndex(index)
        rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        values[f"system/gpu_{index}_utilization_percentage"] = float(rates.gpu)
        values[f"system/gpu_{index}_memory_usage_megabytes"] = memory.used / 2**20
    return values


class SystemMetricsMonitor:
    """Logs ``sample()`` every ``interval`` seconds to a run until stopped."""

    def __init__(self, run_id: str, writer: Writer, interval: float = 10.0) -> None:
        self.run_id = run_id
        self.writer = writer
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._step = 0

    def start(self) -> None:
        import psutil

        psutil.cpu_percent(interval=None)  # the first call primes the counter
        self._thread = threading.Thread(
            target=self._loop, name=f"kiln-system-metrics-{self.run_id[:8]}", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.log_once()

    def log_once(self) -> None:
        stamp = now_ms()
        points = [Metric(k, v, self._step, stamp) for k, v in sample().items()]
        self._step += 1
        try:
            self.writer(self.run_id, points, [], [])
        except Exception:  # the run may have ended between the sample and the write
            self._stop.set()

    def stop(self) -> None:
        """Take a last sample and stop."""
        if self._thread is None or self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)
        self.log_once()
