"""Property-based requests generated from the server's own OpenAPI document (schemathesis):
whatever a client sends, the model server never answers 5xx for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from kiln.server.background import BackgroundServer
from kiln.serving import ModelSpec, create_app
from tests.serving._models import save_scorer
from tests.serving.conftest import wait_ready

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402

# The document only describes routes; building it loads no model.
schema = schemathesis.openapi.from_dict(create_app(["unused"]).openapi())


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = save_scorer(tmp_path_factory.mktemp("fuzz") / "scorer")
    app = create_app([ModelSpec(str(folder), name="scorer", allow_pickle=True)])
    with BackgroundServer(app) as url:
        with httpx.Client(base_url=url) as client:
            assert wait_ready(client).status_code == 200
        yield url


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_request_makes_the_server_fail(case: Any, server_url: str) -> None:
    if case.path_parameters and "name" in case.path_parameters:
        # Half the generated requests go to the served model, so bodies reach the parsers.
        case.path_parameters["name"] = "scorer" if hash(str(case.body)) % 2 else "other"
    response = case.call(base_url=server_url)
    case.validate_response(response, checks=[not_a_server_error])
