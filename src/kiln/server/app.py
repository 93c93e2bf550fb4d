"""The FastAPI application factory behind ``kiln server``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from kiln._version import __version__
from kiln.config import Settings
from kiln.context import Context
from kiln.server.api import api_router
from kiln.server.errors import install_error_handlers
from kiln.server.middleware import AuditMiddleware, RequestContextMiddleware
from kiln.server.mlflow import mlflow_routers
from kiln.server.responses import JSONResponse
from kiln.server.ui import ui_router

log = logging.getLogger("kiln.server")


def create_app(context: Context | Settings | None = None) -> FastAPI:
    """A Kiln server app over ``context`` (default: built from the environment)."""
    if not isinstance(context, Context):
        context = Context(context)
    ctx = context

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Open (and, if empty, migrate) the store before taking traffic.
        await anyio.to_thread.run_sync(lambda: ctx.db.engine)
        log.info(
            "Kiln %s serving %r (auth %s)",
            __version__,
            ctx.db,
            "on" if ctx.settings.auth else "off",
        )
        try:
            yield
        finally:
            ctx.close()

    app = FastAPI(
        title="Kiln",
        version=__version__,
        summary="The Kiln metadata, artifact and model platform API.",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.context = ctx
    install_error_handlers(app)
    app.include_router(api_router())
    for router in mlflow_routers():
        app.include_router(router, include_in_schema=False)
    app.include_router(ui_router())

    @app.get("/health", tags=["health"])
    def health(request: Request) -> JSONResponse:
        """Liveness and store reachability; 503 when the database cannot be reached."""
        try:
            ctx.db.ping()
        except Exception as exc:
            log.warning("health check: database unreachable: %s", exc)
            return JSONResponse(
                {"status": "unavailable", "version": __version__, "database": "unreachable"},
                status_code=503,
            )
        return JSONResponse({"status": "ok", "version": __version__, "database": "ok"})

    @app.get("/version", tags=["health"], response_class=PlainTextResponse)
    def version() -> str:
        """The server's version as plain text (MLflow clients probe this route)."""
        return __version__

    # Outermost last: the request id wraps everything, auditing sits inside it.
    app.add_middleware(AuditMiddleware, context=ctx)
    app.add_middleware(RequestContextMiddleware)
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` and server workers: settings from the environment."""
    return create_app(Settings.load())
