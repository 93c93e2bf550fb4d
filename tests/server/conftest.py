"""Live Kiln servers on 127.0.0.1 for the HTTP tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from kiln.context import Context
from kiln.server import create_app
from kiln.server.background import BackgroundServer


@pytest.fixture
def serve() -> Iterator[Callable[[Context | FastAPI], httpx.Client]]:
    """Start a real server for a context (or app); returns an httpx client bound to it."""
    servers: list[BackgroundServer] = []
    clients: list[httpx.Client] = []

    def start(target: Context | FastAPI) -> httpx.Client:
        app = target if isinstance(target, FastAPI) else create_app(target)
        server = BackgroundServer(app)
        servers.append(server)
        client = httpx.Client(base_url=server.start(), timeout=30)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.stop()
