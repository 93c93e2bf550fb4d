"""Prometheus metrics of one model server, on its own registry (``GET /metrics``).

Per model, version and route: requests by status code, latency, errors by
kind; per model: batch sizes, queued rows and load time. A registry per
server keeps two servers in one process (tests, the demo) apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["ServerMetrics"]

#: Request latency buckets in seconds: sub-millisecond to ten seconds.
_LATENCY = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServerMetrics:
    """The server's counters, histograms and gauges."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry: CollectorRegistry = CollectorRegistry()
        labels = ("model", "version", "route")
        self.requests = Counter(
            "kiln_requests",
            "Inference requests answered, by HTTP status code.",
            (*labels, "code"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "kiln_request_latency_seconds",
            "Time from receiving an inference request to answering it.",
            labels,
            buckets=_LATENCY,
            registry=self.registry,
        )
        self.errors = Counter(
            "kiln_errors",
            "Failed inference requests by kind (invalid_input, overloaded, model_error, …).",
            (*labels, "kind"),
            registry=self.registry,
        )
        self.rows = Counter(
            "kiln_predicted_rows", "Rows predicted.", labels, registry=self.registry
        )
        self.batch_size = Histogram(
            "kiln_batch_size_rows",
            "Rows per model call (micro-batches of concurrent requests).",
            ("model", "version"),
            buckets=_BATCH,
            registry=self.registry,
        )
        self.queue_rows = Gauge(
            "kiln_queue_rows",
            "Rows waiting for a model's worker.",
            ("model", "version"),
            registry=self.registry,
        )
        self.load_seconds = Gauge(
            "kiln_model_load_seconds",
            "How long loading the model took.",
            ("model", "version"),
            registry=self.registry,
        )
        self.loads = Counter(
            "kiln_model_loads",
            "Models loaded on first use (servers with a memory budget).",
            ("model",),
            registry=self.registry,
        )
        self.unloads = Counter(
            "kiln_model_unloads",
            "Least recently used models unloaded to stay within the memory budget.",
            ("model",),
            registry=self.registry,
        )
        self.ready = Gauge(
            "kiln_ready",
            "1 when every model is loaded and the server takes traffic.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))
