"""A model server over real HTTP (uvicorn on 127.0.0.1) for each test that asks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiln.server.background import BackgroundServer
from kiln.serving import ModelSpec, create_app
from tests.serving._models import save_classifier, save_scorer

Serve = Callable[..., Any]


def wait_ready(client: httpx.Client, timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/v2/health/ready")
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        if response.json().get("error"):
            return response
        time.sleep(0.02)


@contextmanager
def serving(models: list[str | ModelSpec], **options: Any) -> Iterator[httpx.Client]:
    with (
        BackgroundServer(create_app(models, **options)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        wait_ready(client)
        yield client


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    """(folder, the fitted model, its training frame)."""
    return save_classifier(tmp_path_factory.mktemp("served") / "hgb")


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_scorer(tmp_path_factory.mktemp("served") / "scorer", fail_on=13.0)


@pytest.fixture(scope="module")
def slow_scorer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_scorer(tmp_path_factory.mktemp("served") / "slow", delay=0.05)
