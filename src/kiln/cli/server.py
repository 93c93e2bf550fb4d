"""``kiln server``: the API (and, as they arrive, the UI) over the configured store."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from types import FrameType
from typing import TYPE_CHECKING

import typer

from kiln.cli._app import options
from kiln.cli._output import console, err_console

if TYPE_CHECKING:
    from kiln.config import Settings
    from kiln.context import Context


def register(app: typer.Typer) -> None:
    app.command("server")(server)


def server(
    ctx: typer.Context,
    host: str | None = typer.Option(
        None, help="Address to bind (env KILN_HOST, default 127.0.0.1)."
    ),
    port: int | None = typer.Option(None, help="Port (env KILN_PORT, default 8700)."),
    auth: bool | None = typer.Option(
        None, "--auth/--no-auth", help="Require API tokens (env KILN_AUTH)."
    ),
    workers: int = typer.Option(1, min=1, help="Worker processes sharing the store."),
    log_level: str | None = typer.Option(None, help="debug, info, warning or error."),
    scheduler: bool = typer.Option(
        False, "--scheduler", help="Also run pipeline schedules (as `kiln scheduler` would)."
    ),
) -> None:
    """Run the Kiln server: REST API under /api/v1, OpenAPI docs at /docs."""
    from kiln.config import Settings
    from kiln.context import Context

    given = {"host": host, "port": port, "auth": auth, "log_level": log_level}
    overrides = options(ctx).overrides | {k: v for k, v in given.items() if v is not None}
    settings = Settings.load(**overrides)
    # Workers build their own Settings from the environment; hand the overrides on.
    for key, value in overrides.items():
        os.environ[f"KILN_{key.upper()}"] = str(value)
    # Open (and, if empty, migrate) the store once here: a store that needs
    # `kiln db upgrade` or cannot be reached is reported as an error, not as a
    # worker's startup traceback.
    store = Context(settings)
    store.db.engine  # noqa: B018
    _warn_if_nobody_can_sign_in(store)
    store.close()
    url = f"http://{settings.host}:{settings.port}"
    console.print(
        f"Kiln server on [bold]{url}[/] (API docs: {url}/docs), auth "
        f"{'[green]on[/]' if settings.auth else '[yellow]off[/]'}, "
        f"store {settings.masked()['database_url']}",
        highlight=False,
    )
    # uvicorn re-raises SIGTERM after a graceful shutdown; exit 0 when it does.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    with _scheduler_thread(settings) if scheduler else nullcontext():
        _serve(settings, workers)


def _serve(settings: Settings, workers: int) -> None:
    import uvicorn

    from kiln.server.logging_config import log_config

    uvicorn.run(
        "kiln.server.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=log_config(settings.log_level),
        access_log=False,
        timeout_graceful_shutdown=30,
        proxy_headers=True,
    )


@contextmanager
def _scheduler_thread(settings: Settings) -> Iterator[None]:
    """A ``Scheduler`` in a thread of this process, stopped (its runs waited for) on shutdown."""
    import logging.config
    import threading

    from kiln.context import Context
    from kiln.pipelines import Scheduler
    from kiln.server.logging_config import log_config

    # uvicorn applies the same configuration when it starts; the scheduler logs before that.
    logging.config.dictConfig(log_config(settings.log_level))
    context = Context(settings)
    runner = Scheduler(context)
    stop = threading.Event()
    thread = threading.Thread(
        target=runner.run_forever, args=(stop,), name="kiln-scheduler", daemon=True
    )
    thread.start()
    console.print(f"scheduler {runner.id} runs the pipeline schedules", highlight=False)
    try:
        yield
    finally:
        stop.set()
        thread.join(runner.stop_timeout + 10)
        if thread.is_alive():
            err_console.print("[yellow]the scheduler did not stop in time[/]", highlight=False)
        context.close()


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _warn_if_nobody_can_sign_in(store: Context) -> None:
    if not store.settings.auth:
        return
    from kiln import auth

    users = store.db.read(auth.list_users)
    if not any(user.is_admin and not user.disabled for user in users):
        err_console.print(
            "[yellow]auth is on but there is no administrator yet:[/] run "
            "`kiln users create NAME --admin` and `kiln tokens create --user NAME`",
            highlight=False,
        )
