"""The tracking SDK against each backend: the stores directly, or a live Kiln server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import kiln
from kiln.context import Context
from kiln.server import create_app
from kiln.server.background import BackgroundServer
from kiln.tracking import _fluent


@pytest.fixture(params=["local", "remote"])
def sdk(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Context]:
    """``kiln.*`` configured on SQLite/PostgreSQL, used directly or through a server."""
    store = kiln.configure(home=tmp_path / "store", database_url=database_url)
    server: BackgroundServer | None = None
    if request.param == "remote":
        server = BackgroundServer(create_app(Context(store.settings)))
        url = server.start()
        kiln.configure(home=tmp_path / "client", server_url=url)
    try:
        yield store
    finally:
        _fluent._reset_for_tests()
        if server is not None:
            server.stop()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()
