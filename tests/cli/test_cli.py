"""The ``kiln`` console script, run as a real process over a temporary Kiln home.

Records a test needs but does not exercise are made in-process through the
services (``seed``), which is much quicker than one ``kiln`` process each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import pytest

from kiln import __version__, auth
from kiln.db import Database
from kiln.db._migrate import head_revision

KILN = shutil.which("kiln", path=os.path.dirname(sys.executable))
UNREACHABLE_POSTGRES = "postgresql://kiln:hunter2@127.0.0.1:1/kiln"

Result = subprocess.CompletedProcess[str]

HEAD = head_revision()


class Run(Protocol):
    def __call__(self, *args: str, code: int = 0, env: dict[str, str] | None = None) -> Result: ...


def kiln_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without KILN_* variables, plus a Kiln home and a wide terminal.

    Module-scoped fixtures run before the autouse fixture that clears KILN_*,
    so the variables are dropped here too.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("KILN_")}
    env.update(KILN_HOME=str(home), COLUMNS="250", NO_COLOR="1", **extra)
    return env


def kiln(args: Sequence[str], env: dict[str, str], *, cwd: Path | None = None) -> Result:
    assert KILN is not None, "the kiln console script is not installed next to python"
    return subprocess.run(
        [KILN, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def check(result: Result, code: int) -> Result:
    assert result.returncode == code, (
        f"{' '.join(result.args[1:])} exited {result.returncode}, expected {code}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result


def make_runner(home: Path) -> Run:
    def run(*args: str, code: int = 0, env: dict[str, str] | None = None) -> Result:
        return check(kiln(args, env if env is not None else kiln_env(home)), code)

    return run


def assert_error(result: Result, *fragments: str) -> None:
    """A refused command: an ``error:`` message on stderr, nothing on stdout, no traceback."""
    assert result.stderr.startswith("error:"), result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def seed(
    home: Path,
    *,
    users: Sequence[str] = (),
    admins: Sequence[str] = (),
    projects: Sequence[str] = (),
) -> None:
    """Records made through the services in-process (the store is migrated on first use)."""
    database = Database(f"sqlite:///{home / 'kiln.db'}")
    try:
        for name in users:
            database.run(auth.create_user, name)
        for name in admins:
            database.run(auth.create_user, name, is_admin=True)
        for name in projects:
            database.run(auth.create_project, name)
    finally:
        database.dispose()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "kiln-home"


@pytest.fixture
def run(home: Path) -> Run:
    return make_runner(home)


# --- version, init, db, doctor ------------------------------------------------


def test_version(run: Run, home: Path) -> None:
    result = run("--version")

    assert result.stdout == f"kiln {__version__}\n"
    assert not home.exists(), "--version must not touch the Kiln home"


def test_init_creates_the_home_and_is_safe_to_rerun(run: Run, home: Path) -> None:
    first = run("init")

    assert (home / "kiln.toml").is_file()
    assert (home / "kiln.db").is_file()
    assert f"metadata store sqlite:///{home / 'kiln.db'} (schema {HEAD})" in first.stdout
    assert first.stdout.count("✓") == 4
    (home / "kiln.toml").write_text('project = "kept"\n')
    seed(home, projects=["survivor"])

    second = run("init")

    assert second.stdout == first.stdout
    assert (home / "kiln.toml").read_text() == 'project = "kept"\n'
    assert "survivor" in run("projects", "list").stdout


def test_init_creates_the_artifact_folder(run: Run, home: Path) -> None:
    run("init")

    assert (home / "artifacts").is_dir()


def test_db_current_and_upgrade(run: Run) -> None:
    empty = run("db", "current")
    assert f"store at empty, Kiln needs {HEAD}: needs `kiln db upgrade`" in empty.stdout

    assert f"upgraded from empty to {HEAD}" in run("db", "upgrade").stdout
    assert f"store at {HEAD}, Kiln needs {HEAD}: up to date" in run("db", "current").stdout
    assert f"is up to date at revision {HEAD}" in run("db", "upgrade").stdout


def test_doctor_prints_the_masked_configuration_and_checks(run: Run, home: Path) -> None:
    result = run("doctor", env=kiln_env(home, KILN_TOKEN="kiln_secret_value"))

    assert str(home) in result.stdout
    assert f"sqlite:///{home / 'kiln.db'}" in result.stdout
    assert "********" in result.stdout
    assert "kiln_secret_value" not in result.stdout
    assert result.stdout.count("✓") == 2
    assert "✗" not in result.stdout
    assert "writable and readable" in result.stdout


def test_doctor_fails_on_unreachable_postgres_without_leaking_the_password(run: Run) -> None:
    result = run("--database-url", UNREACHABLE_POSTGRES, "doctor", code=1)

    output = result.stdout + result.stderr
    assert "hunter2" not in output
    assert "Traceback" not in output
    assert "postgresql://kiln:***@127.0.0.1:1/kiln" in result.stdout
    assert result.stdout.count("✗") == 1
    assert result.stdout.count("✓") == 1


# --- projects -----------------------------------------------------------------


def test_projects_lifecycle(run: Run) -> None:
    created = as_json(run("projects", "create", "fraud", "-d", "card fraud", "--json"))
    assert (created["name"], created["description"]) == ("fraud", "card fraud")
    listed = as_json(run("projects", "list", "--json"))
    assert [project["name"] for project in listed] == ["default", "fraud"]

    run("projects", "update", "fraud", "--description", "card fraud, 2026")
    assert "description: card fraud, 2026" in run("projects", "show", "fraud").stdout

    assert "project 'fraud' deleted" in run("projects", "delete", "fraud", "--yes").stdout
    assert_error(run("projects", "show", "fraud", code=3), "'fraud'")


def test_project_members(run: Run, home: Path) -> None:
    seed(home, users=["bob"], projects=["fraud"])

    added = run("projects", "add-member", "fraud", "bob", "--role", "editor")
    assert "'bob' is editor in 'fraud'" in added.stdout
    members = as_json(run("projects", "members", "fraud", "--json"))
    assert [(m["project"], m["user"], m["role"]) for m in members] == [("fraud", "bob", "editor")]

    run("projects", "add-member", "fraud", "bob", "-r", "admin")
    run("projects", "remove-member", "fraud", "bob")
    assert as_json(run("projects", "members", "fraud", "--json")) == []


# --- users and tokens ---------------------------------------------------------


def test_users_lifecycle(run: Run, home: Path) -> None:
    seed(home, users=["bob"])
    created = as_json(
        run("users", "create", "alice", "--admin", "--email", "alice@example.com", "--json")
    )
    assert (created["is_admin"], created["disabled"]) == (True, False)
    listed = as_json(run("users", "list", "--json"))
    assert {(u["name"], u["is_admin"]) for u in listed} == {("alice", True), ("bob", False)}

    updated = as_json(run("users", "update", "bob", "--disable", "--json"))
    assert updated["disabled"] is True
    shown = run("users", "show", "bob")
    assert "disabled: yes" in shown.stdout
    assert "is_admin: no" in shown.stdout


def test_tokens_lifecycle(run: Run, home: Path) -> None:
    seed(home, admins=["alice"], projects=["fraud"])

    created = run("tokens", "create", "--user", "alice", "--project", "fraud", "--name", "ci")
    secrets = [line for line in created.stdout.splitlines() if line.startswith("kiln_")]
    assert len(secrets) == 1, created.stdout
    secret = secrets[0]
    assert len(secret) > 32
    assert created.stdout.count(secret) == 1

    listed = run("tokens", "list", "--json")
    assert secret not in listed.stdout
    [token] = as_json(listed)
    assert (token["user"], token["project"], token["name"]) == ("alice", "fraud", "ci")
    assert token["revoked_at"] is None
    assert token["id"] in secret
    assert secret not in run("tokens", "list").stdout

    revoked = run("tokens", "revoke", token["id"])
    assert f"token {token['id']} of 'alice' revoked" in revoked.stdout
    assert as_json(run("tokens", "list", "--json")) == []
    [every] = as_json(run("tokens", "list", "--all", "--json"))
    assert every["id"] == token["id"]
    assert every["revoked_at"] is not None


# --- audit --------------------------------------------------------------------


def test_audit_lists_entries_newest_first(run: Run, home: Path) -> None:
    assert as_json(run("audit", "--json")) == []
    database = Database(f"sqlite:///{home / 'kiln.db'}")
    try:
        for project, action in [("fraud", "create_run"), ("churn", "delete_run")]:
            entry = auth.AuditRecord(
                action=action,
                method="POST",
                path=f"/api/v1/projects/{project}/runs",
                status_code=201,
                outcome="ok",
                actor="alice",
                project=project,
            )
            database.run(auth.record, entry)
    finally:
        database.dispose()

    entries = as_json(run("audit", "--json"))
    assert [(e["project"], e["action"], e["actor"]) for e in entries] == [
        ("churn", "delete_run", "alice"),
        ("fraud", "create_run", "alice"),
    ]
    filtered = as_json(run("audit", "--project", "fraud", "--json"))
    assert [e["action"] for e in filtered] == ["create_run"]


# --- errors and exit codes ----------------------------------------------------

REFUSED = {
    "project-not-found": (("projects", "show", "nope"), 3, "'nope'"),
    "user-not-found": (("users", "show", "nobody"), 3, "'nobody'"),
    "token-not-found": (("tokens", "revoke", "0123456789ab"), 3, "'0123456789ab'"),
    "member-of-missing-project": (("projects", "add-member", "nope", "alice"), 3, "'nope'"),
    "project-exists": (("projects", "create", "default"), 4, "'default'"),
    "user-exists": (("users", "create", "alice"), 4, "'alice'"),
    "bad-project-name": (("projects", "create", "Bad Name!"), 6, "'Bad Name!'"),
    "bad-role": (("projects", "add-member", "default", "alice", "--role", "boss"), 6, "'boss'"),
}


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """Every command of ``REFUSED`` run side by side over one home with user alice."""
    home = tmp_path_factory.mktemp("refused") / "kiln-home"
    seed(home, users=["alice"])
    env = kiln_env(home)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(kiln, args, env) for key, (args, _, _) in REFUSED.items()}
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("key", list(REFUSED))
def test_kiln_errors_map_to_exit_codes(refused: dict[str, Result], key: str) -> None:
    _, code, fragment = REFUSED[key]

    assert_error(check(refused[key], code), fragment)


@pytest.mark.parametrize(
    "args",
    [("projects", "bogus"), ("projects", "create"), ("audit", "--limit", "0")],
    ids=["unknown-command", "missing-argument", "bad-value"],
)
def test_usage_errors_exit_2_without_traceback(run: Run, args: tuple[str, ...]) -> None:
    result = run(*args, code=2)

    assert "Usage" in result.stderr or "Error" in result.stderr
    assert result.stdout == ""


def test_declined_confirmation_aborts_without_traceback(run: Run, home: Path) -> None:
    seed(home, projects=["fraud"])

    run("projects", "delete", "fraud", code=1)

    assert "fraud" in run("projects", "show", "fraud").stdout


@pytest.mark.parametrize(
    ("port", "toml"),
    [("abc", None), (None, "not [toml\n")],
    ids=["bad-env-port", "broken-toml"],
)
def test_bad_configuration_is_an_error_not_a_traceback(
    home: Path, tmp_path: Path, port: str | None, toml: str | None
) -> None:
    env = kiln_env(home, **({"KILN_PORT": port} if port else {}))
    workdir = tmp_path / "project"
    workdir.mkdir()
    if toml:
        (workdir / "kiln.toml").write_text(toml)

    result = kiln(["doctor"], env, cwd=workdir)

    assert result.returncode != 0
    assert_error(result)


# --- global options -----------------------------------------------------------


def test_home_option_overrides_kiln_home(run: Run, home: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-home"

    result = run("--home", str(other), "init")

    assert (other / "kiln.db").is_file()
    assert str(other / "kiln.toml") in result.stdout
    assert not home.exists()


def test_database_url_option_overrides_the_environment(
    run: Run, home: Path, tmp_path: Path
) -> None:
    from_env = tmp_path / "from-env.db"
    from_option = tmp_path / "from-option.db"
    env = kiln_env(home, KILN_DATABASE_URL=f"sqlite:///{from_env}")

    run("--database-url", f"sqlite:///{from_option}", "projects", "create", "fraud", env=env)

    assert from_option.is_file()
    assert not from_env.exists()
    assert not (home / "kiln.db").exists()


def test_project_option_overrides_kiln_project(run: Run, home: Path) -> None:
    seed(home, admins=["alice"], projects=["fraud", "churn"])
    env = kiln_env(home, KILN_PROJECT="churn")

    new = as_json(run("--project", "fraud", "tokens", "create", "-u", "alice", "--json", env=env))
    assert new["token"]["project"] == "fraud"
    assert new["secret"].startswith("kiln_")

    default = as_json(run("tokens", "create", "-u", "alice", "--json", env=env))
    assert default["token"]["project"] == "churn"


# --- PostgreSQL -----------------------------------------------------------------


@pytest.mark.postgres
def test_flow_on_postgres(empty_postgres_url: str, run: Run, home: Path) -> None:
    env = kiln_env(home, KILN_DATABASE_URL=empty_postgres_url)

    assert f"upgraded from empty to {HEAD}" in run("db", "upgrade", env=env).stdout
    doctor = run("doctor", env=env)
    assert f"reachable (postgresql), schema {HEAD} (current)" in doctor.stdout
    run("users", "create", "alice", env=env)
    run("projects", "create", "fraud", env=env)
    run("projects", "add-member", "fraud", "alice", "-r", "editor", env=env)
    assert_error(run("projects", "create", "fraud", code=4, env=env), "'fraud'")

    members = as_json(run("projects", "members", "fraud", "--json", env=env))
    assert [(m["user"], m["role"]) for m in members] == [("alice", "editor")]
    assert not (home / "kiln.db").exists(), "the SQLite default must not be used"
