"""``POST /v1/models/{name}/explain``: Shapley values for the rows of a predict body.

The body is a ``/predict`` body (records, columns, dataframe_split or
instances — parsed and checked against the signature by ``_Server.rows``,
entity keys filled from the feature store likewise) plus an optional
``"top_k"``. Without ``"method"``, a tree model is explained by TreeSHAP
when shap is installed, in the trees' raw output; any other model by
``kiln.explain``'s model-agnostic Shapley values of ``predict_proba`` (or
``predict``). Naming ``"method"`` explains exactly that output, always
model-agnostically.

The model-agnostic method needs background rows: the input example saved
with the model (at most :data:`BACKGROUND_ROWS` of it). A model saved
without one is answered 409, saying how to save one. An explanation is
thousands of predictions, so it runs in a worker thread beside the
micro-batcher (never through its queue), and a request that would cost
more than :data:`MAX_EVALUATIONS` predictions is refused (400) with the
number of rows that would fit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.serving._openapi import EXPLAIN_BODY

if TYPE_CHECKING:
    from kiln.serving._app import _Server
    from kiln.serving._inputs import Rows
    from kiln.serving._loaded import ServedModel

__all__ = ["BACKGROUND_ROWS", "MAX_EVALUATIONS", "add_explain_routes"]

#: Background rows taken (a seeded sample) from a model's input example.
BACKGROUND_ROWS = 50
#: The most predictions one explain request may cost.
MAX_EVALUATIONS = 1 << 21


def _top_k(body: Any) -> tuple[Any, int | None]:
    """The body without ``top_k`` (which the predict parser does not know), and its value."""
    if not isinstance(body, dict) or "top_k" not in body:
        return body, None
    rest = dict(body)
    top_k = rest.pop("top_k")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InvalidInput(f"top_k must be a whole number >= 1, got {top_k!r}", field="top_k")
    return rest, top_k


def read_background(model: ServedModel) -> Any:
    """Up to ``BACKGROUND_ROWS`` rows of the model's input example, typed like a request's
    rows; None when the model has none."""
    import numpy as np
    import pandas as pd

    from kiln.models import read_input_example
    from kiln.registry._load import model_folder, version_folder
    from kiln.serving._inputs import ARRAY, rows_from_columns

    if model.uri.startswith("graph:"):
        return None
    try:
        folder = (
            version_folder(model.version) if model.version is not None else model_folder(model.uri)
        )
        example = read_input_example(folder)
    except NotFound:
        return None
    # As lists, the example takes the path a JSON body takes, so it is cast by the same rules.
    if isinstance(example, pd.DataFrame):
        columns = {str(name): example[name].tolist() for name in example.columns}
    elif isinstance(example, dict):
        columns = {str(name): np.asarray(values).tolist() for name, values in example.items()}
    else:
        columns = {ARRAY: np.asarray(example).tolist()}
    try:
        rows = rows_from_columns(columns, model.signature, where="input_example")
    except InvalidInput as exc:
        raise Conflict(
            f"the input example saved with model {model.name!r} does not fit its signature "
            f"({exc.message}); save the model again",
            field="input_example",
        ) from None
    keep = np.arange(rows.count)
    if rows.count > BACKGROUND_ROWS:
        keep = np.sort(np.random.default_rng(0).choice(rows.count, BACKGROUND_ROWS, replace=False))
    sample = {name: array[keep] for name, array in rows.columns.items()}
    return sample[ARRAY] if rows.kind == "ndarray" else sample


def _no_background(model: ServedModel) -> Conflict:
    return Conflict(
        f"model {model.name!r} was saved without an input example, which explaining it needs "
        "as background rows; save it again with kiln.models.save_model(model, path, "
        "input_example=<50 to 100 typical rows>) (a tree model is explained without one "
        "once shap is installed: kiln-ml[shap])",
        field="input_example",
    )


def explain(
    model: ServedModel, rows: Rows, method: str | None, background: Any, top_k: int | None
) -> dict[str, Any]:
    """The answer's explanation fields (runs in a worker thread)."""
    from kiln.explain import explain_rows, supports_tree_shap

    if background is None and (method is not None or not supports_tree_shap(model.predictor)):
        raise _no_background(model)
    explanation = explain_rows(
        model.predictor,
        rows.model_input(),
        background=background,
        model_method=method,
        max_evaluations=MAX_EVALUATIONS,
    )
    tree = explanation.method == "tree"
    return {
        "method": explanation.method,
        "output": explanation.output,
        "outputs": list(explanation.output_names) or None,
        "background_rows": 0 if tree else _count(background),
        "explanations": explanation.rows(top_k),
    }


def _count(background: Any) -> int:
    first = next(iter(background.values())) if isinstance(background, dict) else background
    return len(first)


class _Backgrounds:
    """Each served model's background rows, read once per loaded model (a reload reads again)."""

    def __init__(self) -> None:
        self._read: dict[str, tuple[object, Any]] = {}

    async def get(self, model: ServedModel) -> Any:
        cached = self._read.get(model.name)
        if cached is not None and cached[0] is model.predictor:
            return cached[1]
        background = await asyncio.to_thread(read_background, model)
        self._read[model.name] = (model.predictor, background)
        return background


def add_explain_routes(app: FastAPI, server: _Server) -> None:
    """``POST /v1/models/{name}/explain``."""
    from kiln.serving._app import _json

    backgrounds = _Backgrounds()

    @app.post("/v1/models/{name}/explain", openapi_extra=EXPLAIN_BODY)
    async def explain_route(request: Request, name: str) -> Response:
        """Per-row Shapley values (base value, contributions, prediction) for a predict body."""
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        version = ""
        try:
            model, extra = await server.model(name, None)
            version = model.version_label
            body, top_k = _top_k(await server.body(request))
            rows, options, fill = await server.rows(model, body, v2=False)
            method = options.get("method")
            if method is not None and method not in model.methods:
                raise InvalidInput(
                    f"method must be one of {', '.join(model.methods)}, got {method!r}",
                    field="method",
                )
            background = await backgrounds.get(model)
            answer = await asyncio.to_thread(explain, model, rows, method, background, top_k)
            answer |= {"model": model.name, "version": version, "request_id": request_id}
            if fill is not None:
                answer["features"] = fill.to_dict()
            response = _json(answer, headers={"x-request-id": request_id, **extra})
            server._observe(name, version, "explain", 200, started, rows.count, request_id)
            return response
        except Exception as error:
            return server._failure(error, name, version, "explain", started, request_id, v2=False)
