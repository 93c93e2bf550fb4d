"""``kiln serve``: put models behind HTTP (plain JSON and the Open Inference Protocol V2)."""

from __future__ import annotations

import json
import os
import signal
from types import FrameType

import typer

from kiln.cli._app import options
from kiln.cli._output import console
from kiln.errors import InvalidInput


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    models: list[str] | None = typer.Argument(
        None,
        help="Models to serve: models:/name@alias, models:/name/3, runs:/ID/path or a folder; "
        "NAME=URI serves one under another name.",
    ),
    deployment: list[str] | None = typer.Option(
        None,
        "--deployment",
        "-d",
        help="A deployment to serve (repeat for more): routed by its traffic policy, "
        "reloaded when it changes, logged.",
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8080, help="Port."),
    workers: int = typer.Option(1, min=1, help="Worker processes (each loads every model)."),
    batching: bool = typer.Option(
        True, "--batching/--no-batching", help="Micro-batch concurrent requests per model."
    ),
    max_batch_size: int = typer.Option(64, min=1, help="Most rows per model call."),
    max_wait_ms: float = typer.Option(
        0.0, min=0.0, max=1000.0, help="How long a batch that is not full waits for more rows."
    ),
    max_queue_rows: int = typer.Option(
        4096, min=1, help="Rows queued per model before requests get 503 with Retry-After."
    ),
    max_body_mb: float = typer.Option(8.0, min=0.001, help="Largest request body, in MiB."),
    memory_budget_mb: int | None = typer.Option(
        None,
        min=1,
        help="Load models on first use and unload the least recently used beyond this budget.",
    ),
    threads: int = typer.Option(
        1, min=1, help="Native threads (OpenMP, BLAS) per model call; see docs/serving.md."
    ),
    allow_pickle: bool = typer.Option(
        False,
        "--allow-pickle",
        help="Load pickled (python_function) models: only models you trust, it runs their code.",
    ),
    access_log: bool = typer.Option(
        True, "--access-log/--no-access-log", help="One JSON line per request on stdout."
    ),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Serve models: POST /v1/models/NAME/predict, /v2/models/NAME/infer, /metrics."""
    import uvicorn

    from kiln.serving._app import SPEC_ENVIRONMENT

    if not models and not deployment:
        raise InvalidInput("give a model URI or --deployment NAME to serve", field="models")
    specs: list[dict[str, object]] = []
    for item in models or []:
        name, equals, uri = item.partition("=")
        if not equals or "://" in name or name.startswith(("models:", "runs:")):
            name, uri = "", item
        specs.append(
            {
                "uri": uri,
                "name": name or None,
                "batching": batching,
                "max_batch_size": max_batch_size,
                "max_wait_ms": max_wait_ms,
                "max_queue_rows": max_queue_rows,
                "allow_pickle": allow_pickle,
            }
        )
    # Workers are separate processes: they read the models and settings from the environment.
    for key, value in options(ctx).overrides.items():
        os.environ[f"KILN_{key.upper()}"] = str(value)
    os.environ[SPEC_ENVIRONMENT] = json.dumps(
        {
            "models": specs,
            "deployments": list(deployment or []),
            "allow_pickle": allow_pickle,
            "max_body_bytes": int(max_body_mb * (1 << 20)),
            "threads": threads,
            "memory_budget_mb": memory_budget_mb,
        }
    )
    # Pools read these when their library loads; the app caps them again once models load.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))
    _check_models(specs)
    url = f"http://{host}:{port}"
    console.print(
        f"Serving {', '.join([str(s['name'] or s['uri']) for s in specs] + list(deployment or []))}"
        f" on [bold]{url}[/] (predict: {url}/v1/models/NAME/predict, deployments: "
        f"{url}/v1/deployments/NAME/predict, V2: {url}/v2, metrics: {url}/metrics)",
        highlight=False,
    )
    signal.signal(signal.SIGTERM, _exit_cleanly)  # uvicorn drains first, then re-raises it
    uvicorn.run(
        "kiln.serving._app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=_log_config(log_level, access_log),
        access_log=False,
        timeout_graceful_shutdown=30,
    )


def _check_models(specs: list[dict[str, object]]) -> None:
    """Refuse bad options before starting workers (a worker's error would be a traceback)."""
    from kiln.serving._models import ModelSpec

    for spec in specs:
        ModelSpec(**spec)  # type: ignore[arg-type]


def _log_config(level: str, access_log: bool) -> dict[str, object]:
    """``kiln server``'s logging, plus the model server's JSON access lines on stdout."""
    from kiln.server.logging_config import log_config

    config = log_config(level)
    config["formatters"]["json-line"] = {"format": "%(message)s"}
    config["handlers"]["serving-access"] = {
        "class": "logging.StreamHandler",
        "formatter": "json-line",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["kiln.serving.access"] = {
        "handlers": ["serving-access"] if access_log else [],
        "level": "INFO" if access_log else "WARNING",
        "propagate": False,
    }
    return config


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)
