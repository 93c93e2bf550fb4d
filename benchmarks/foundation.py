"""Foundation benchmark: import and CLI start-up, metadata-store writes, API latency.

Prints one JSON object. Run: ``.venv/bin/python benchmarks/foundation.py``.
PostgreSQL figures are included when 127.0.0.1:5432 answers.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from kiln import auth
from kiln.config import Settings
from kiln.context import Context
from kiln.db import Database

PG_ADMIN = os.environ.get("KILN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def best_of(runs: int, command: list[str]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return min(times)


def import_times() -> dict[str, float]:
    kiln_cli = shutil.which("kiln", path=str(Path(sys.executable).parent)) or "kiln"
    python = [sys.executable, "-c"]
    baseline = best_of(5, [*python, "pass"])
    return {
        "python_startup_s": round(baseline, 3),
        "import_kiln_s": round(best_of(5, [*python, "import kiln"]) - baseline, 3),
        "kiln_help_s": round(best_of(5, [kiln_cli, "--help"]), 3),
    }


def store_writes(url: str, n: int = 2000) -> dict[str, float]:
    db = Database(url)
    db.upgrade()
    entry = auth.AuditRecord(
        action="bench", method="POST", path="/x", status_code=200, outcome="ok"
    )
    started = time.perf_counter()
    for _ in range(n):
        db.run(auth.record, entry)
    one_per_txn = n / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(n):
        db.read(lambda s: s.execute(text("SELECT 1")).scalar())
    reads = n / (time.perf_counter() - started)
    db.dispose()
    return {"writes_per_s": round(one_per_txn), "read_txns_per_s": round(reads)}


def api_latency(home: Path) -> dict[str, float]:
    import httpx

    from kiln.server import create_app
    from kiln.server.background import BackgroundServer

    context = Context(Settings(home=home, auth=True))
    context.db.run(auth.create_user, "bench", is_admin=True)
    secret = context.db.run(auth.create_token, "bench", "default").secret
    headers = {"Authorization": f"Bearer {secret}"}
    results: dict[str, float] = {}
    with BackgroundServer(create_app(context)) as url, httpx.Client(base_url=url) as client:
        for name, method, path, body in [
            ("get_me", "GET", "/api/v1/users/me", None),
            ("list_projects", "GET", "/api/v1/projects", None),
            ("patch_project_audited", "PATCH", "/api/v1/projects/default", {"description": "b"}),
        ]:
            samples = []
            for _ in range(300):
                started = time.perf_counter()
                response = client.request(method, path, headers=headers, json=body)
                samples.append(time.perf_counter() - started)
                response.raise_for_status()
            samples.sort()
            results[f"{name}_p50_ms"] = round(statistics.median(samples) * 1000, 2)
            results[f"{name}_p95_ms"] = round(samples[int(len(samples) * 0.95)] * 1000, 2)
    context.close()
    return results


def postgres_url() -> str | None:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return None
    import psycopg

    name = f"kiln_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_ADMIN.rpartition('/')[0]}/{name}"


def drop_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')


def main() -> None:
    results: dict[str, object] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "startup": import_times(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = store_writes(f"sqlite:///{tmp}/bench.db")
        results["api_sqlite_auth_on"] = api_latency(Path(tmp) / "api")
    pg = postgres_url()
    if pg:
        try:
            results["postgres"] = store_writes(pg)
        finally:
            drop_postgres(pg)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
