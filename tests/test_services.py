"""The services the suite relies on, and the skip-or-fail rule for them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL, require_service


@pytest.mark.postgres
def test_postgres_answers() -> None:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.redis
def test_redis_answers() -> None:
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert client.ping() is True
    finally:
        client.close()


@pytest.mark.parametrize(("ci", "outcome"), [("true", "failed"), ("", "skipped")])
def test_missing_service_skips_locally_and_fails_in_ci(
    tmp_path: Path, ci: str, outcome: str
) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            from tests.conftest import require_service

            def test_needs_a_service_that_is_not_there():
                require_service("Nothing", "127.0.0.1", 1)
            """
        )
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        check=False,
    )
    assert f"1 {outcome}" in result.stdout, result.stdout
