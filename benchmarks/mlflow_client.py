"""The stock ``mlflow`` client against ``kiln server`` and against MLflow's own server.

Both servers run as separate processes on this machine over a fresh SQLite
store; the same client workload runs against each and the JSON reports
throughput and the ratios. Skips MLflow's server when ``mlflow`` is missing.

Run: ``.venv/bin/python benchmarks/mlflow_client.py``
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

METRIC_CALLS = 300
RUNS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not start") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def workload(url: str) -> dict[str, float]:
    import mlflow

    client = mlflow.MlflowClient(url)
    experiment_id = client.create_experiment(f"bench-{time.time_ns()}")
    run = client.create_run(experiment_id)
    started = time.perf_counter()
    for step in range(METRIC_CALLS):
        client.log_metric(run.info.run_id, "loss", 1.0 / (step + 1), step=step)
    per_call = METRIC_CALLS / (time.perf_counter() - started)
    started = time.perf_counter()
    for index in range(RUNS):
        r = client.create_run(experiment_id)
        client.log_batch(
            r.info.run_id,
            metrics=[mlflow.entities.Metric("auc", 0.5 + index / 100, 0, 0)],
            params=[mlflow.entities.Param(f"p{i}", str(i)) for i in range(5)],
        )
        client.set_terminated(r.info.run_id)
    runs = RUNS / (time.perf_counter() - started)
    started = time.perf_counter()
    found = client.search_runs([experiment_id], "metrics.auc > 0.6", order_by=["metrics.auc DESC"])
    search_ms = (time.perf_counter() - started) * 1000
    assert len(found) == RUNS - 11
    return {
        "log_metric_calls_per_second": round(per_call, 1),
        "runs_per_second": round(runs, 1),
        "search_ms": round(search_ms, 1),
    }


def main() -> None:
    warnings.filterwarnings("ignore")
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "workload": {"log_metric_calls": METRIC_CALLS, "runs": RUNS},
    }
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "KILN_HOME": f"{tmp}/kiln"}
        server = start(
            [str(bin_dir / "kiln"), "server", "--port", str(port), "--log-level", "warning"],
            url,
            env,
        )
        try:
            results["kiln_server"] = workload(url)
        finally:
            stop(server)
        mlflow_bin = bin_dir / "mlflow"
        if mlflow_bin.exists():
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            server = start(
                [
                    str(mlflow_bin),
                    "server",
                    "--backend-store-uri",
                    f"sqlite:///{tmp}/mlflow.db",
                    "--artifacts-destination",
                    f"{tmp}/mlartifacts",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "1",
                ],
                url,
                dict(os.environ),
            )
            try:
                results["mlflow_server"] = workload(url)
            finally:
                stop(server)
            kiln, peer = results["kiln_server"], results["mlflow_server"]
            results["ratios"] = {
                "log_metric": round(
                    kiln["log_metric_calls_per_second"] / peer["log_metric_calls_per_second"], 2
                ),
                "runs": round(kiln["runs_per_second"] / peer["runs_per_second"], 2),
                "search": round(peer["search_ms"] / kiln["search_ms"], 2),
            }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
