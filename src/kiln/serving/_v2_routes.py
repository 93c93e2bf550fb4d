"""The Open Inference Protocol (V2) routes of the model server: health, metadata, infer.

The request and answer shapes are ``_v2.py``'s; inference itself is
``_Server.infer`` (shared with the plain JSON route's checks, batching,
metrics and errors). Errors here are ``{"error": …}``, as the protocol says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from kiln._version import __version__
from kiln.errors import KilnError
from kiln.serving._openapi import INFER_BODY

if TYPE_CHECKING:
    from kiln.serving._app import _Server

__all__ = ["add_v2_routes"]


def add_v2_routes(app: FastAPI, server: _Server) -> None:
    """``/v2/health/*``, ``/v2``, ``/v2/models/{name}[/versions/{v}][/ready|/infer]``."""
    from kiln.serving._app import _json, _status

    @app.get("/v2/health/live")
    async def live() -> Response:
        """Alive: the process answers."""
        return _json({"live": True})

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        """Ready once every model is loaded (503 before, and while draining)."""
        if server.models.ready:
            return _json({"ready": True})
        body: dict[str, Any] = {"ready": False}
        if server.load_error:
            body["error"] = server.load_error
        return _json(body, 503)

    @app.get("/v2")
    async def server_metadata() -> Response:
        """The server's name, version and protocol extensions (none)."""
        return _json({"name": "kiln", "version": __version__, "extensions": []})

    async def metadata(name: str, version: str | None) -> Response:
        from kiln.serving._v2 import model_metadata

        try:
            model, _ = await server.model(name, version)
        except KilnError as error:
            return _json({"error": error.message}, _status(error))
        versions = [model.version_label] if model.version_label else []
        body = model_metadata(
            model.name, versions, model.predictor.flavor, model.signature, model.methods
        )
        return _json(body)

    @app.get("/v2/models/{name}")
    async def model_metadata_route(name: str) -> Response:
        """Inputs (names, datatypes, shapes) and outputs of a served model."""
        return await metadata(name, None)

    @app.get("/v2/models/{name}/versions/{version}")
    async def version_metadata(name: str, version: str) -> Response:
        """As ``/v2/models/{name}``, for the version that is served (404 for another)."""
        return await metadata(name, version)

    def model_ready(name: str, version: str | None) -> Response:
        try:
            server.check_ready()
            if version is not None or name not in server.models.names():
                server.models.get(name, version)  # a model on first use is ready too
        except KilnError as error:
            return _json({"error": error.message}, _status(error))
        return _json({"name": name, "ready": True})

    @app.get("/v2/models/{name}/ready")
    async def model_ready_route(name: str) -> Response:
        """200 when the model is loaded."""
        return model_ready(name, None)

    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def version_ready(name: str, version: str) -> Response:
        """200 when that version of the model is loaded."""
        return model_ready(name, version)

    @app.post("/v2/models/{name}/infer", openapi_extra=INFER_BODY)
    async def infer(request: Request, name: str) -> Response:
        """Open Inference Protocol inference: input tensors → output tensors."""
        return await server.infer(request, name, None)

    @app.post("/v2/models/{name}/versions/{version}/infer", openapi_extra=INFER_BODY)
    async def infer_version(request: Request, name: str, version: str) -> Response:
        """As ``/infer``, for the version that is served (404 for another)."""
        return await server.infer(request, name, version)
