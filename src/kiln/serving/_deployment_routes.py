"""The routes of deployments on the model server: predict through the router, feedback, state.

::

    POST /v1/deployments/{name}/predict    as /v1/models/{name}/predict, routed by the policy
    POST /v1/deployments/{name}/feedback   {"request_id" | "arm", "reward": 0..1} for bandits
    GET  /v1/deployments[/{name}]          revision, policy, arms (version, serving, error), router

The sticky key of a request (policies with ``sticky_key``) is the
``X-Kiln-Key`` header, else the body's ``key``, else the value of the
``sticky_key`` field in the request's first row. Every answered request and
every shadow's answer goes to the prediction log (route ``primary`` or
``shadow``, with the same request id).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from kiln.errors import InvalidInput, KilnError, Unavailable
from kiln.serving._openapi import PREDICT_BODY

if TYPE_CHECKING:
    from kiln.serving._app import _Server
    from kiln.serving._deployed import Deployed, DeploymentSet
    from kiln.serving._inputs import Rows
    from kiln.serving._loaded import ServedModel
    from kiln.serving._prediction_log import PredictionLog

__all__ = ["add_deployment_routes"]

log = logging.getLogger("kiln.serving")


def sticky_value(request: Request, body: Any, field: str | None) -> str | None:
    """The request's sticky key: header, then body ``key``, then the first row's field."""
    header = request.headers.get("x-kiln-key")
    if header:
        return header
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("key"), str | int):
        return str(body["key"])
    if field is None:
        return None
    for name in ("records", "dataframe_records", "instances"):
        rows = body.get(name)
        if isinstance(rows, list) and rows and isinstance(rows[0], dict) and field in rows[0]:
            return str(rows[0][field])
    columns = body.get("columns") or body.get("inputs")
    if isinstance(columns, dict) and isinstance(columns.get(field), list) and columns[field]:
        return str(columns[field][0])
    return None


class DeploymentRoutes:
    """The handlers, over the server's models, deployments and prediction log."""

    def __init__(self, server: _Server, deployments: DeploymentSet) -> None:
        self.server = server
        self.deployments = deployments
        self.log: PredictionLog | None = None
        self._shadows: set[asyncio.Task[None]] = set()

    async def predict(self, request: Request, name: str) -> Response:
        from kiln.serving._app import _json, _jsonable

        server = self.server
        started = time.perf_counter()
        arrived = _now()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        version = ""
        try:
            if not server.models.ready:
                raise Unavailable("the server is still loading its deployments")
            body = await server.body(request)
            deployed = self.deployments.get(name)
            key = sticky_value(request, body, deployed.record.policy.sticky_key)
            deployed, route, model = self.deployments.route(name, key)
            version = model.version_label
            rows, options, fill = await server.rows(model, body, v2=False)
            method = _method(model, options)
            output = await server.models.predict(model.name, method, rows)
            deployed.remember(request_id, route.arm)
            answer: dict[str, Any] = {
                "predictions": _jsonable(output),
                "deployment": name,
                "arm": route.arm,
                "model": model.name,
                "version": version,
                "revision": deployed.record.revision,
                "request_id": request_id,
            }
            if fill is not None:
                answer["features"] = fill.to_dict()
            response = _json(answer, headers={"x-request-id": request_id})
            server._observe(name, version, "deployment", 200, started, rows.count, request_id)
            self._record(deployed, model, "primary", request_id, rows, output, started, arrived)
            for arm, shadow in self.deployments.shadow_models(deployed, route):
                task = asyncio.create_task(
                    self._shadow(deployed, arm, shadow, body, method, request_id, arrived)
                )
                self._shadows.add(task)
                task.add_done_callback(self._shadows.discard)
            return response
        except Exception as error:
            return server._failure(
                error, name, version, "deployment", started, request_id, v2=False
            )

    async def drain_shadows(self, timeout: float = 30.0) -> None:
        """Let the shadows still running finish, so their answers reach the log at shutdown."""
        if self._shadows:
            await asyncio.wait(list(self._shadows), timeout=timeout)

    async def _shadow(
        self,
        deployed: Deployed,
        arm: str,
        model: ServedModel,
        body: Any,
        method: str,
        request_id: str,
        arrived: Any,
    ) -> None:
        """Run a shadow on a copy of the request; its answer is logged, never returned."""
        started = time.perf_counter()
        try:
            rows, _, _ = await self.server.rows(model, body, v2=False)
            chosen = method if method in model.methods else "predict"
            output = await self.server.models.predict(model.name, chosen, rows)
        except Exception as error:  # a failing shadow never touches the caller
            log.warning(
                "deployment %s: shadow %s failed on %s: %s",
                deployed.record.name,
                arm,
                request_id,
                error,
            )
            metrics = self.server.models.metrics
            metrics.errors.labels(
                deployed.record.name, model.version_label, "shadow", "model_error"
            ).inc()
            return
        self.server._observe(
            deployed.record.name,
            model.version_label,
            "shadow",
            200,
            started,
            rows.count,
            request_id,
        )
        self._record(deployed, model, "shadow", request_id, rows, output, started, arrived)

    def _record(
        self,
        deployed: Deployed,
        model: ServedModel,
        route: str,
        request_id: str,
        rows: Rows,
        output: Any,
        started: float,
        arrived: Any,
    ) -> None:
        if self.log is None:
            return
        from kiln.serving._prediction_log import PredictionRecord

        outputs = output if isinstance(output, dict) else {"predictions": output}
        self.log.record(
            PredictionRecord(
                request_id=request_id,
                deployment=deployed.record.name,
                model=model.version.name if model.version else model.name,
                version=model.version.version if model.version else None,
                route=route,
                inputs=rows.columns,
                outputs=outputs,
                n_rows=rows.count,
                latency_ms=(time.perf_counter() - started) * 1000,
                time=arrived,
            )
        )

    async def feedback(self, request: Request, name: str) -> Response:
        from kiln.serving._app import _json, _status

        try:
            body = await self.server.body(request)
            if not isinstance(body, dict) or "reward" not in body:
                raise InvalidInput(
                    "feedback is {'request_id' or 'arm', 'reward': a number in [0, 1]}",
                    field="reward",
                )
            if ("request_id" in body) == ("arm" in body):
                raise InvalidInput("give request_id or arm, not both", field="request_id")
            arm = self.deployments.feedback(
                name, body["reward"], request_id=body.get("request_id"), arm=body.get("arm")
            )
        except KilnError as error:
            message = {"error_code": error.error_code, "message": error.message}
            if error.field:
                message["field"] = error.field
            return _json(message, _status(error) if _status(error) != 500 else 409)
        deployed = self.deployments.get(name)
        return _json({"deployment": name, "arm": arm, "router": deployed.router.state()})


def _method(model: ServedModel, options: dict[str, Any]) -> str:
    method = options.get("method", "predict")
    if method not in model.methods:
        raise InvalidInput(
            f"method must be one of {', '.join(model.methods)}, got {method!r}", field="method"
        )
    return str(method)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def add_deployment_routes(app: FastAPI, routes: DeploymentRoutes) -> None:
    from kiln.serving._app import _json, _status

    @app.post("/v1/deployments/{name}/predict", openapi_extra=PREDICT_BODY)
    async def deployment_predict(request: Request, name: str) -> Response:
        """Predictions from the arm the deployment's policy routes this request to."""
        return await routes.predict(request, name)

    @app.post("/v1/deployments/{name}/feedback")
    async def deployment_feedback(request: Request, name: str) -> Response:
        """A reward in [0, 1] for the arm that answered a request (bandit deployments)."""
        return await routes.feedback(request, name)

    @app.get("/v1/deployments")
    async def deployments() -> Response:
        """The deployments served here, each with its revision, arms and router state."""
        live = routes.deployments
        return _json({"deployments": [live.get(n).describe() for n in live.names if _has(live, n)]})

    @app.get("/v1/deployments/{name}")
    async def deployment(name: str) -> Response:
        """One deployment: its policy and revision, each arm's version and health, the router."""
        try:
            return _json(routes.deployments.get(name).describe())
        except KilnError as error:
            return _json({"error_code": error.error_code, "message": error.message}, _status(error))


def _has(live: DeploymentSet, name: str) -> bool:
    try:
        live.get(name)
    except KilnError:
        return False
    return True
