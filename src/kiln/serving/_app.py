"""The model server's HTTP app: plain JSON predict, the Open Inference Protocol V2, metrics.

::

    POST /v1/models/{name}/predict             records / columns / instances → predictions
    POST /v1/models/{name}/explain             the same bodies → Shapley values per row
    GET  /v1/models                            what is served, versions, load times
    GET  /v2/health/live | /v2/health/ready    liveness; readiness (false while loading)
    GET  /v2                                   server metadata
    GET  /v2/models/{name}[/versions/{v}]      model metadata (inputs from the signature)
    GET  /v2/models/{name}[/versions/{v}]/ready
    POST /v2/models/{name}[/versions/{v}]/infer
    GET  /metrics                              Prometheus

The inference routes read the body themselves (orjson, a size limit) and
answer with ``Response`` objects, so no validation layer or DataFrame sits
on the hot path; errors are answered in each protocol's shape — plain JSON
``{"error_code", "message", "field", "request_id"}``, V2 ``{"error": …}`` —
with 4xx for bad input, 404 for an unknown model, 503 (``Retry-After``)
when a queue is full or models are still loading, and 500 with the request
id when a model raises (logged, the server stays up).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from kiln._version import __version__
from kiln.errors import Conflict, InvalidInput, KilnError, NotFound, Unavailable
from kiln.serving._batching import Overloaded
from kiln.serving._models import ModelSet, ModelSpec, as_spec
from kiln.serving._openapi import PREDICT_BODY

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.features import FeatureStore
    from kiln.serving._inputs import Rows
    from kiln.serving._loaded import ServedModel
    from kiln.serving._prediction_log import PredictionListener

__all__ = ["DEFAULT_MAX_BODY_BYTES", "SPEC_ENVIRONMENT", "app_from_environment", "create_app"]

log = logging.getLogger("kiln.serving")
access = logging.getLogger("kiln.serving.access")

DEFAULT_MAX_BODY_BYTES = 8 << 20
_JSON = {"content-type": "application/json"}
_STATUS = {InvalidInput: 400, NotFound: 404, Conflict: 409, Unavailable: 503}
_NUMPY = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _status(error: KilnError) -> int:
    for cls in type(error).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]
    return 500


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body, option=_NUMPY), status, headers={**_JSON, **(headers or {})})


def _jsonable(values: Any) -> Any:
    """An output array as orjson takes it (numeric arrays as they are: no Python lists)."""
    import numpy as np

    if isinstance(values, dict):
        return {name: _jsonable(array) for name, array in values.items()}
    array = np.asarray(values)
    if array.dtype.kind in "biuf" and array.dtype.isnative:
        return np.ascontiguousarray(array)
    return array.tolist()


class _Server:
    """The app's state and the logic of its routes."""

    def __init__(self, models: ModelSet, max_body_bytes: int) -> None:
        self.models = models
        self.max_body_bytes = max_body_bytes
        self.load_error: str | None = None
        self._store: FeatureStore | None = None

    async def body(self, request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _TooLarge(int(declared), self.max_body_bytes)
        raw = await request.body()
        if len(raw) > self.max_body_bytes:
            raise _TooLarge(len(raw), self.max_body_bytes)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"the body is not valid JSON: {exc}", field="body") from None

    async def rows(self, model: ServedModel, body: Any, v2: bool) -> tuple[Rows, Any, Any]:
        """The request's rows checked against the model, its options, and any feature fill.

        A model trained from the feature store may be sent entity keys in
        place of its features: those are read from the online store first.
        """
        from kiln.serving._inputs import parse_body
        from kiln.serving._v2 import parse_infer

        parse = parse_infer if v2 else parse_body
        if model.features is None:
            rows, options = parse(body, model.signature)
            return rows, options, None
        from kiln.serving._feature_inputs import fill_features

        raw, options = parse(body, None)
        rows, fill = await asyncio.to_thread(fill_features, model, raw, self.feature_store())
        return rows, options, fill

    def feature_store(self) -> FeatureStore:
        if self._store is None:
            from kiln.features import feature_store

            self._store = feature_store()
        return self._store

    def check_ready(self) -> None:
        if not self.models.ready:
            why = f": {self.load_error}" if self.load_error else ""
            raise Unavailable(f"the server is still loading its models{why}")

    async def model(self, name: str, version: str | None) -> tuple[ServedModel, dict[str, str]]:
        """The model for a request (loaded now under a memory budget), and headers to add."""
        self.check_ready()
        model, seconds = await self.models.acquire(name, version)
        return model, ({"x-kiln-cold-load-ms": f"{seconds * 1000:.1f}"} if seconds else {})

    async def predict(self, request: Request, name: str) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        version = ""
        try:
            model, extra = await self.model(name, None)
            version = model.version_label
            rows, options, fill = await self.rows(model, await self.body(request), v2=False)
            method = options.get("method", "predict")
            if method not in model.methods:
                raise InvalidInput(
                    f"method must be one of {', '.join(model.methods)}, got {method!r}",
                    field="method",
                )
            output = await self.models.predict(model.name, method, rows)
            body = {
                "predictions": _jsonable(output),
                "model": model.name,
                "version": version,
                "request_id": request_id,
            }
            if fill is not None:
                body["features"] = fill.to_dict()
            response = _json(body, headers={"x-request-id": request_id, **extra})
            self._observe(name, version, "predict", 200, started, rows.count, request_id)
            return response
        except Exception as error:
            return self._failure(error, name, version, "predict", started, request_id, v2=False)

    async def infer(self, request: Request, name: str, version: str | None) -> Response:
        from kiln.serving._v2 import infer_response

        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        label = version or ""
        try:
            model, extra = await self.model(name, version)
            label = model.version_label
            rows, options, fill = await self.rows(model, await self.body(request), v2=True)
            request_id = options["id"] or request_id
            methods = _methods(model, options)
            outputs = {}
            for method in methods:
                outputs[method] = await self.models.predict(model.name, method, rows)
            body = infer_response(model.name, label, request_id, _flatten(outputs))
            if fill is not None:
                body["parameters"] = {"features": fill.to_dict()}
            response = _json(body, headers={"x-request-id": request_id, **extra})
            self._observe(name, label, "infer", 200, started, rows.count, request_id)
            return response
        except Exception as error:
            return self._failure(error, name, label, "infer", started, request_id, v2=True)

    def _observe(
        self,
        name: str,
        version: str,
        route: str,
        status: int,
        started: float,
        rows: int,
        request_id: str,
    ) -> None:
        seconds = time.perf_counter() - started
        metrics = self.models.metrics
        metrics.requests.labels(name, version, route, str(status)).inc()
        metrics.latency.labels(name, version, route).observe(seconds)
        if rows:
            metrics.rows.labels(name, version, route).inc(rows)
        if access.isEnabledFor(logging.INFO):
            access.info(
                orjson.dumps(
                    {
                        "time": time.time(),
                        "request_id": request_id,
                        "model": name,
                        "version": version,
                        "route": route,
                        "status": status,
                        "rows": rows,
                        "latency_ms": round(seconds * 1000, 3),
                    }
                ).decode()
            )

    def _failure(
        self,
        error: Exception,
        name: str,
        version: str,
        route: str,
        started: float,
        request_id: str,
        *,
        v2: bool,
    ) -> Response:
        headers = {"x-request-id": request_id}
        if isinstance(error, _TooLarge):
            status, kind, code, message = 413, "too_large", "TOO_LARGE", str(error)
            field: str | None = "body"
        elif isinstance(error, KilnError):
            status = _status(error)
            kind = (
                "overloaded"
                if isinstance(error, Overloaded)
                else ("unavailable" if status == 503 else error.error_code.lower())
            )
            code, message, field = error.error_code, error.message, error.field
            if status == 503:
                headers["retry-after"] = "1"
        else:  # the model raised: log it whole, answer without a traceback
            log.error("request %s to model %r failed", request_id, name, exc_info=error)
            status, kind, code = 500, "model_error", "MODEL_ERROR"
            message = f"the model failed on this request ({type(error).__name__}); see the log"
            field = None
        self.models.metrics.errors.labels(name, version, route, kind).inc()
        self._observe(name, version, route, status, started, 0, request_id)
        if v2:
            body: dict[str, Any] = {"error": message}
        else:
            body = {"error_code": code, "message": message, "request_id": request_id}
            if field:
                body["field"] = field
        return _json(body, status, headers)


def limit_native_threads(threads: int) -> None:
    """Cap the OpenMP and BLAS pools already loaded (by the models) at ``threads``."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # no threadpoolctl (it comes with scikit-learn): nothing to cap
        return
    threadpool_limits(limits=threads)


class _InContext:
    """ASGI middleware: the server's context is the current one in its requests and tasks.

    Loading a ``models:/`` URI, resolving an alias and reading the online
    store ask for the current context; a server given ``context=`` must use
    that one, not whatever the process was configured with. Lifespan tasks
    (loading, the deployment watcher) inherit it too.
    """

    def __init__(self, app: Any, context: Context) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from kiln.context import using_context

        with using_context(self.context):
            await self.app(scope, receive, send)


class _TooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the body is {size} bytes; this server takes at most {limit}")


def _methods(model: ServedModel, options: dict[str, Any]) -> list[str]:
    """The methods a V2 request asks for: its ``outputs`` names, else ``parameters.method``."""
    wanted = options.get("outputs")
    if isinstance(wanted, list) and wanted:
        names = [item.get("name") if isinstance(item, dict) else None for item in wanted]
        for name in names:
            if name not in model.methods:
                raise InvalidInput(
                    f"unknown output {name!r}; this model gives {', '.join(model.methods)}",
                    field="outputs",
                )
        return list(dict.fromkeys(str(name) for name in names))
    method = options.get("parameters", {}).get("method", "predict")
    if method not in model.methods:
        raise InvalidInput(
            f"parameters.method must be one of {', '.join(model.methods)}, got {method!r}",
            field="parameters.method",
        )
    return [method]


def _flatten(outputs: dict[str, Any]) -> dict[str, Any]:
    """Method → output, with a model's named outputs (a dict) as ``method.name`` tensors."""
    flat: dict[str, Any] = {}
    for method, value in outputs.items():
        if isinstance(value, dict):
            flat.update({f"{method}.{name}": array for name, array in value.items()})
        else:
            flat[method] = value
    return flat


def create_app(
    models: Sequence[str | ModelSpec] = (),
    *,
    deployments: Sequence[str] = (),
    context: Context | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    threads: int | None = 1,
    poll_seconds: float = 1.0,
    allow_pickle: bool = False,
    log_predictions: bool = True,
    prediction_listeners: Sequence[PredictionListener] = (),
    memory_budget_mb: int | None = None,
    title: str = "Kiln model server",
) -> FastAPI:
    """A model server for ``models`` (URIs or ``ModelSpec``s) and ``deployments`` (names).

    A deployment is routed by its traffic policy, reloaded when its revision
    or an alias it names moves (checked every ``poll_seconds``), and its
    requests go to the prediction log (``log_predictions``), whose listeners
    (the installed ``kiln.prediction_listeners`` and ``prediction_listeners``)
    see each batch written; see ``_deployed.py`` and ``_prediction_log.py``.
    With ``memory_budget_mb`` the models are checked at start and loaded on
    first use, the least recently used unloaded to stay within the budget
    (``_models.py``). ``context`` is where deployments, the registry and the
    feature store are read (the current one by default).

    ``threads`` caps the native thread pools (OpenMP, BLAS) models compute
    with, once they are loaded (None leaves them alone). One thread per model
    call is the default: the server already runs calls concurrently and
    batches them, and a pool that spins on every core starves the event loop
    (on 2 cores, 1-row throughput at concurrency 16 went from about 90 to
    1,100 requests/s; docs/serving.md).

    The app takes connections at once and loads in the background: liveness
    is true from the start, readiness (and inference) once every model is
    loaded. A model that fails to load keeps readiness false and is named
    in ``/v2/health/ready``'s answer and the log.
    """
    from kiln.context import get_context
    from kiln.serving._deployed import DeploymentSet
    from kiln.serving._deployment_routes import DeploymentRoutes, add_deployment_routes
    from kiln.serving._explain_routes import add_explain_routes
    from kiln.serving._metrics import ServerMetrics
    from kiln.serving._v2_routes import add_v2_routes

    if not models and not deployments:
        raise InvalidInput("give at least one model or deployment to serve", field="models")
    metrics = ServerMetrics()
    model_set = ModelSet(
        [as_spec(item) for item in models], metrics, memory_budget_mb=memory_budget_mb
    )
    server = _Server(model_set, max_body_bytes)
    ctx = context or get_context()
    deployment_set = DeploymentSet(
        ctx,
        list(deployments),
        server.models,
        spec=ModelSpec("deployment", allow_pickle=allow_pickle),
        poll_seconds=poll_seconds,
    )
    routes = DeploymentRoutes(server, deployment_set)
    tasks: list[asyncio.Task[None]] = []

    async def load() -> None:
        try:
            await deployment_set.load_all()
            await server.models.load_all()
            if threads is not None:
                limit_native_threads(threads)
        except Exception as error:
            server.load_error = f"{type(error).__name__}: {error}"
            log.error("loading models failed: %s", server.load_error)
            return
        if deployments:
            tasks.append(asyncio.create_task(deployment_set.watch()))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if deployments and log_predictions:
            from kiln.serving._prediction_log import PredictionLog, installed_listeners

            listeners = [*installed_listeners(ctx, ctx.settings.project), *prediction_listeners]
            routes.log = PredictionLog(ctx, project=ctx.settings.project, listeners=listeners)
        tasks.append(asyncio.create_task(load()))
        try:
            yield
        finally:
            server.models.ready = False  # draining: tell the load balancer first
            metrics.ready.set(0)
            for task in tasks:
                task.cancel()
            await routes.drain_shadows()
            if deployments:
                await deployment_set.save_state()
            if routes.log is not None:
                await asyncio.to_thread(routes.log.close)
            await asyncio.to_thread(server.models.close)

    app = FastAPI(title=title, version=__version__, lifespan=lifespan, docs_url="/docs")
    app.state.server = server
    app.state.deployments = deployment_set
    app.add_middleware(_InContext, context=ctx)
    add_deployment_routes(app, routes)

    @app.post("/v1/models/{name}/predict", openapi_extra=PREDICT_BODY)
    async def predict(request: Request, name: str) -> Response:
        """Predictions for rows given as records, columns, a split table or instances."""
        return await server.predict(request, name)

    @app.get("/v1/models")
    async def served() -> Response:
        """Every served model: URI, version, signature inputs, methods, load time."""
        found = []
        for name in server.models.names():
            if name not in server.models.loaded():
                found.append({"name": name, "loaded": False})  # loads on first use
                continue
            model = server.models.get(name)
            signature = model.signature
            found.append(
                {
                    "name": model.name,
                    "uri": model.uri,
                    "version": model.version_label,
                    "registered_model": model.version.name if model.version else None,
                    "flavor": model.predictor.flavor,
                    "methods": list(model.methods),
                    "inputs": signature.to_dict()["inputs"] if signature else [],
                    "loaded": True,
                    "load_seconds": round(model.load_seconds, 4),
                    "feature_service": model.features.service if model.features else None,
                }
            )
        return _json({"models": found, "ready": server.models.ready, "error": server.load_error})

    add_explain_routes(app, server)
    add_v2_routes(app, server)

    @app.get("/metrics")
    async def prometheus() -> Response:
        """Prometheus metrics: requests, latency, errors, batch sizes, queue depth."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return app


#: The environment variable ``kiln serve`` hands its worker processes the models in (JSON).
SPEC_ENVIRONMENT = "KILN_SERVE_SPEC"


def app_from_environment() -> FastAPI:
    """The app a ``kiln serve --workers N`` worker builds from ``KILN_SERVE_SPEC``."""
    import os

    raw = os.environ.get(SPEC_ENVIRONMENT)
    if not raw:
        raise InvalidInput(f"{SPEC_ENVIRONMENT} is not set: start workers with `kiln serve`")
    spec = orjson.loads(raw)
    return create_app(
        [ModelSpec(**item) for item in spec["models"]],
        deployments=list(spec.get("deployments", [])),
        allow_pickle=bool(spec.get("allow_pickle", False)),
        max_body_bytes=int(spec.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)),
        threads=spec.get("threads", 1),
        memory_budget_mb=spec.get("memory_budget_mb"),
    )
