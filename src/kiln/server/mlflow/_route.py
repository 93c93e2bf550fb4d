"""MLflow's error contract for the compatibility routes.

MLflow clients read ``{"error_code": ..., "message": ...}`` with MLflow's own
codes and status codes (an unknown run is ``RESOURCE_DOES_NOT_EXIST``/404, a
bad value ``INVALID_PARAMETER_VALUE``/400, a taken name
``RESOURCE_ALREADY_EXISTS``/400). ``MlflowRoute`` applies that mapping to the
routers of this package only; Kiln's own API keeps its error table.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from kiln.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    KilnError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from kiln.server.responses import JSONResponse

#: Kiln error → (MLflow error code, HTTP status), resolved through the MRO.
MLFLOW_ERRORS: dict[type[KilnError], tuple[str, int]] = {
    KilnError: ("INTERNAL_ERROR", 500),
    NotFound: ("RESOURCE_DOES_NOT_EXIST", 404),
    AlreadyExists: ("RESOURCE_ALREADY_EXISTS", 400),
    InvalidInput: ("INVALID_PARAMETER_VALUE", 400),
    # Logging to a finished run or re-logging a param: MLflow says INVALID_PARAMETER_VALUE.
    Conflict: ("INVALID_PARAMETER_VALUE", 400),
    PermissionDenied: ("PERMISSION_DENIED", 403),
    Unauthenticated: ("UNAUTHENTICATED", 401),
    Unavailable: ("TEMPORARILY_UNAVAILABLE", 503),
}


def mlflow_error(error: KilnError) -> tuple[str, int]:
    for cls in type(error).__mro__:
        if cls in MLFLOW_ERRORS:
            return MLFLOW_ERRORS[cls]
    return "INTERNAL_ERROR", 500


def error_response(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


class MlflowRoute(APIRoute):
    """An APIRoute whose failures come out in MLflow's error format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except KilnError as error:
                code, status = mlflow_error(error)
                return error_response(code, error.message, status)
            except RequestValidationError as error:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}"
                    for e in error.errors()
                )
                return error_response("INVALID_PARAMETER_VALUE", problems or "invalid request", 400)

        return handle


def first(values: Any, name: str) -> Any:
    """MLflow sends some GET parameters once; take the value (or raise naming it)."""
    if values is None:
        raise InvalidInput(f"missing value for parameter '{name}'", field=name)
    return values


class MlflowBody(BaseModel):
    """MLflow request bodies: unknown fields (newer clients) are ignored."""

    model_config = ConfigDict(extra="ignore")


class KeyValue(MlflowBody):
    key: str
    value: str = ""


def ok(body: dict[str, Any] | None = None) -> JSONResponse:
    """MLflow's success answer: the body, or ``{}``."""
    return JSONResponse(body or {})
