"""The OpenAPI schemas of the bodies the inference routes parse themselves.

The routes read their bodies with orjson (no validation layer on the hot
path), so FastAPI cannot derive the schemas; these say what the bodies look
like, for clients, the docs at ``/docs`` and schemathesis.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXPLAIN_BODY", "INFER_BODY", "PREDICT_BODY"]


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_TABLE = {"type": "array", "minItems": 1, "items": {"type": "object"}}
_ROWS = {
    "records": _TABLE,
    "dataframe_records": _TABLE,
    "columns": {"type": "object"},
    "dataframe_split": {"type": "object"},
    "instances": {"type": "array", "minItems": 1},
    "method": {"type": "string", "enum": ["predict", "predict_proba"]},
    "id": {"type": "string"},
    "key": {"type": "string"},
}

#: ``/v1/models/{name}/predict`` and ``/v1/deployments/{name}/predict``.
PREDICT_BODY = _json_body({"type": "object", "properties": _ROWS})

#: ``/v1/models/{name}/explain``: a predict body, and how many contributions to list per row.
EXPLAIN_BODY = _json_body(
    {"type": "object", "properties": {**_ROWS, "top_k": {"type": "integer", "minimum": 1}}}
)

_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string"},
        "data": {"type": "array"},
        "parameters": {"type": "object"},
    },
}

#: ``/v2/models/{name}[/versions/{v}]/infer`` (Open Inference Protocol).
INFER_BODY = _json_body(
    {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "items": _TENSOR, "minItems": 1},
            "outputs": {"type": "array", "items": {"type": "object"}},
        },
    }
)
