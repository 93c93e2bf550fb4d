"""Model serving throughput and latency: kiln serve against mlflow models serve and BentoML.

One HistGradientBoostingClassifier on 20 float features; 1-row and 100-row
JSON requests at concurrency 1 and 16, ``--seconds`` each (20 by default).
The load generator runs in its own process on this machine, targets
127.0.0.1 only and stops by itself: asyncio keep-alive connections sending
pre-encoded HTTP/1.1 requests, so it costs the server as little CPU as a
Python client can. Prints JSON: requests/s, p50/p99 latency and errors
(non-200 answers and dropped connections, counted per request) per server
and load, plus the in-process ``model.predict`` time.

MLflow is measured when it is importable here. BentoML is measured when it
is importable here or ``--bentoml-python`` names an interpreter that has it
(BentoML's pins conflict with Kiln's: a venv of its own, with this
environment's scikit-learn version, since the model is handed over as a
joblib pickle). Two BentoML services, ``benchmarks/_bentoml_side.py``: one
model call per request, and the same API with adaptive batching.

    python benchmarks/serving.py [--seconds 20] [--skip-mlflow] [--skip-bentoml]
        [--bentoml-python /path/to/bentoml-venv/bin/python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FEATURES = [f"f{i}" for i in range(20)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train(rows: int = 20_000) -> tuple[Any, pd.DataFrame]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    labels = (frame["f0"] + frame["f1"] * frame["f2"] > 0).astype("int64")
    return HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(frame, labels), frame


def predict_ms(model: Any, frame: pd.DataFrame) -> float:
    one = frame.head(1)
    for _ in range(50):
        model.predict(one)
    started = time.perf_counter()
    for _ in range(500):
        model.predict(one)
    return (time.perf_counter() - started) / 500 * 1000


# -- load generator (runs in a child process) --------------------------------------------


async def _client(
    port: int, request: bytes, stop: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
    except (ConnectionError, asyncio.IncompleteReadError):
        errors.append(-1)
    finally:
        writer.close()


def _load(port: int, request: bytes, concurrency: int, seconds: float, out: Any) -> None:
    latencies: list[float] = []
    errors: list[int] = []

    async def main() -> None:
        stop = time.perf_counter() + seconds
        await asyncio.gather(
            *(_client(port, request, stop, latencies, errors) for _ in range(concurrency))
        )

    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    out.put({"latencies": latencies, "errors": len(errors), "elapsed": elapsed})


def run_load(port: int, path: str, body: bytes, concurrency: int, seconds: float) -> dict[str, Any]:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    queue: Any = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(
        target=_load, args=(port, request, concurrency, seconds, queue)
    )
    child.start()
    result = queue.get(timeout=seconds + 120)
    child.join(30)
    latencies = np.array(result["latencies"])
    return {
        "requests": int(latencies.size),
        "rps": round(latencies.size / result["elapsed"], 1),
        "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 3) if latencies.size else None,
        "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 3) if latencies.size else None,
        "errors": result["errors"],
    }


# -- servers -------------------------------------------------------------------------------


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def bodies(frame: pd.DataFrame) -> dict[str, bytes]:
    one = frame.head(1)
    hundred = frame.head(100)
    return {
        "1_row": json.dumps({"dataframe_records": one.to_dict("records")}).encode(),
        "100_rows": json.dumps({"dataframe_records": hundred.to_dict("records")}).encode(),
    }


def measure(port: int, path: str, payloads: dict[str, bytes], seconds: float) -> dict[str, Any]:
    found = {}
    for rows, body in payloads.items():
        for concurrency in (1, 16):
            run_load(port, path, body, concurrency, min(2.0, seconds))  # warm up
            found[f"{rows}_c{concurrency}"] = run_load(port, path, body, concurrency, seconds)
    return found


def kiln_server(folder: Path, seconds: float, payloads: dict[str, bytes]) -> dict[str, Any]:
    port = free_port()
    kiln = shutil.which("kiln", path=os.path.dirname(sys.executable))
    process = subprocess.Popen(
        [str(kiln), "serve", f"m={folder}", "--port", str(port), "--no-access-log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/health/ready", process)
        return measure(port, "/v1/models/m/predict", payloads, seconds)
    finally:
        stop(process)


def mlflow_server(model: Any, frame: pd.DataFrame, seconds: float, payloads: dict[str, bytes]):
    import mlflow.sklearn

    folder = Path(tempfile.mkdtemp()) / "mlflow-model"
    trusted = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
    try:
        mlflow.sklearn.save_model(
            model, str(folder), input_example=frame.head(2), skops_trusted_types=trusted
        )
    except TypeError:  # an MLflow without skops: its default (cloud)pickle
        mlflow.sklearn.save_model(model, str(folder), input_example=frame.head(2))
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            str(folder),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "--env-manager",
            "local",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # mlflow starts `uvicorn` by name: the environment's scripts must be on PATH.
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", process)
        return measure(port, "/invocations", payloads, seconds)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)


def bentoml_bodies(frame: pd.DataFrame) -> dict[str, bytes]:
    """The same rows in BentoML's shape: a JSON object keyed by the API's parameter name."""
    return {
        "1_row": json.dumps({"records": frame.head(1).to_dict("records")}).encode(),
        "100_rows": json.dumps({"records": frame.head(100).to_dict("records")}).encode(),
    }


def bentoml_version(python: str) -> dict[str, str]:
    code = "import bentoml, sklearn; print(bentoml.__version__, sklearn.__version__)"
    found = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    bentoml_v, sklearn_v = found.stdout.split()
    return {"bentoml": bentoml_v, "sklearn": sklearn_v}


def bentoml_server(
    python: str, model: Any, service: str, seconds: float, payloads: dict[str, bytes]
) -> dict[str, Any]:
    """``bentoml serve _bentoml_side:<service>`` from ``python``'s environment, measured."""
    import joblib

    folder = Path(tempfile.mkdtemp(prefix="bentoml-bench-"))
    shutil.copy(Path(__file__).with_name("_bentoml_side.py"), folder / "_bentoml_side.py")
    joblib.dump(model, folder / "model.joblib")
    port = free_port()
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [
            python,
            "-m",
            "bentoml",
            "serve",
            f"_bentoml_side:{service}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--working-dir",
            str(folder),
            "--do-not-track",
        ],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={
            **os.environ,
            "KILN_BENCH_MODEL": str(folder / "model.joblib"),
            "BENTOML_HOME": str(folder / "bentoml-home"),
            "BENTOML_DO_NOT_TRACK": "True",
            # One OpenMP thread per model call, as kiln serve runs its calls: with
            # BentoML's default (one per core) concurrent calls thrash on a small machine.
            "OMP_NUM_THREADS": "1",
            # its scripts (circus, uvicorn) are found next to its interpreter
            "PATH": f"{Path(python).parent}:{os.environ['PATH']}",
        },
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz", process)
        return measure(port, "/predict", payloads, seconds)
    except Exception:
        log.flush()
        sys.stderr.write((folder / "server.log").read_text(errors="replace")[-4000:])
        raise
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        log.close()


def bentoml_python(given: str | None) -> str | None:
    """The interpreter to run BentoML with: ``--bentoml-python``, else this one if it has it."""
    import importlib.util

    if given:
        return given
    return sys.executable if importlib.util.find_spec("bentoml") else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-bentoml", action="store_true")
    parser.add_argument(
        "--bentoml-python",
        help="an interpreter whose environment has BentoML 1.4 and this scikit-learn version",
    )
    args = parser.parse_args()

    from kiln.models import save_model

    model, frame = train()
    folder = Path(tempfile.mkdtemp()) / "hgb"
    save_model(model, folder, input_example=frame.head(5))
    payloads = bodies(frame)
    report: dict[str, Any] = {
        "benchmark": "serving",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "seconds_per_load": args.seconds,
        "predict_1_row_ms": round(predict_ms(model, frame), 3),
        "kiln": kiln_server(folder, args.seconds, payloads),
    }
    import importlib.util

    if importlib.util.find_spec("mlflow") and not args.skip_mlflow:
        report["mlflow"] = mlflow_server(model, frame, args.seconds, payloads)
    else:
        report["mlflow"] = "skipped" if args.skip_mlflow else "not installed"
    python = bentoml_python(args.bentoml_python)
    if args.skip_bentoml:
        report["bentoml"] = "skipped"
    elif python is None:
        report["bentoml"] = "not installed"
    else:
        import sklearn

        versions = bentoml_version(python)
        if versions["sklearn"] != sklearn.__version__:
            raise SystemExit(
                f"{python} has scikit-learn {versions['sklearn']}, this environment "
                f"{sklearn.__version__}: the pickled model needs the same version"
            )
        payloads = bentoml_bodies(frame)
        report["bentoml_version"] = versions["bentoml"]
        report["bentoml"] = bentoml_server(python, model, "Plain", args.seconds, payloads)
        report["bentoml_batching"] = bentoml_server(
            python, model, "Batched", args.seconds, payloads
        )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
