"""Shared fixtures: real stores (SQLite and PostgreSQL), contexts and live servers.

Tests that need PostgreSQL or Redis skip with a reason when the service is not
running, and fail instead when ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from kiln.config import Settings
from kiln.context import Context
from kiln.db import Database

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "KILN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("KILN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, under CI=true, fail) when a service is not listening."""
    if _reachable(host, port):
        return
    message = f"{name} is not running on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message}, and CI=true requires it")
    pytest.skip(f"{message}; start it to run this test")


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's ~/.kiln, KILN_* variables or a stray kiln.toml."""
    for key in list(os.environ):
        if key.startswith("KILN_") and not key.startswith("KILN_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    """A SQLite store that does not exist yet (the first use creates and migrates it)."""
    return f"sqlite:///{tmp_path / 'store' / 'kiln.db'}"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite store per session; tests get copies (migrating costs ~0.1-0.2 s)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "kiln.db"
    database = Database(f"sqlite:///{path}")
    database.engine  # noqa: B018  (opening migrates it)
    database.dispose()
    with closing(sqlite3.connect(path)) as connection:  # fold the WAL into the one file
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """A fresh, migrated SQLite store of this test's own."""
    target = tmp_path / "store" / "kiln.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template, target)
    return f"sqlite:///{target}"


def _create_postgres(template: str | None = None) -> tuple[str, str]:
    """``(name, url)`` of a new PostgreSQL database, empty or copied from ``template``."""
    import psycopg

    name = f"kiln_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return name, f"{base}/{name}"


def _drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name, url = _create_postgres()
    try:
        yield url
    finally:
        _drop_postgres(name)


@pytest.fixture(scope="session")
def _postgres_template() -> Iterator[str]:
    """One migrated PostgreSQL database per session, the template of each test's copy."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name, url = _create_postgres()
    database = Database(url)
    database.engine  # noqa: B018  (opening migrates it)
    database.dispose()  # a template must have no open connection
    try:
        yield name
    finally:
        _drop_postgres(name)


@pytest.fixture
def postgres_url(_postgres_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test, dropped afterwards."""
    name, url = _create_postgres(_postgres_template)
    try:
        yield url
    finally:
        _drop_postgres(name)


@pytest.fixture
def redis_url() -> str:
    """The test Redis (``KILN_TEST_REDIS_URL``); tests share it, so each keeps to its own keys."""
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    require_service("Redis", parts.hostname or "127.0.0.1", parts.port or 6379)
    return REDIS_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each store test runs on SQLite and on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def make_context(tmp_path: Path) -> Iterator[Callable[..., Context]]:
    """Contexts over a temporary home; keyword arguments override settings."""
    made: list[Context] = []

    def make(**overrides: object) -> Context:
        overrides.setdefault("home", tmp_path / "kiln-home")
        context = Context(Settings(**overrides))  # type: ignore[arg-type]
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def context(make_context: Callable[..., Context], database_url: str) -> Context:
    """A context whose metadata store is SQLite or PostgreSQL (parametrized)."""
    return make_context(database_url=database_url)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests for ``pytest -n N --dist loadgroup`` (how ``make test`` runs them).

    First among the hooks: xdist's worker reads the ``xdist_group`` marks in
    its own ``pytest_collection_modifyitems``, so marks added after it are
    never seen (and the browser tests ran ``kiln demo`` on both workers).

    A file's tests stay on one worker, so its module-scoped servers start once;
    the browser tests share one worker (their session fixture runs ``kiln
    demo``), and so do the Ray tests (one local Ray instance, not one per worker).
    """
    if not config.pluginmanager.hasplugin("xdist"):
        return
    root = config.rootpath
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        path = item.path.relative_to(root)
        if item.get_closest_marker("ray") is not None:
            group = "ray"
        elif path.parts[:2] == ("tests", "ui"):
            group = "ui"
        else:
            group = path.as_posix()
        item.add_marker(pytest.mark.xdist_group(group))
