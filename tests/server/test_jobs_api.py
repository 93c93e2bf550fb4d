"""``/api/v1/jobs`` over real HTTP: list (filter, pages), one job, its output from an offset,
cancelling a running job (its process tree ended) and then 409; malformed input a 4xx naming
the field, never a 500; viewers read, editors cancel; no route submits a job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiln import auth
from kiln.context import Context
from kiln.training._job_executor import record_outcome
from kiln.training._job_records import Outcome, append_output, mark_running
from kiln.training._jobs import Job, JobSpec, JobStatus, create_job
from tests.training._jobs import TREE, assert_gone, tree_pids, write

pytestmark = pytest.mark.timeout(120)

API = "/api/v1/jobs"


def _recorded(
    context: Context, project: str, name: str, chunks: list[str], status: JobStatus
) -> Job:
    """A job that ran and ended, written through the executor's records (no process)."""
    spec = JobSpec(name=name, entry=f"{name}.py", args=("--epochs", "2"), working_dir="/tmp")
    job = context.db.run(create_job, project, spec)
    context.db.run(mark_running, job.id, host="elsewhere", pid=1, started=0.0)
    for seq, text in enumerate(chunks):
        context.db.run(append_output, job.id, seq, [text])
    outcome = Outcome(status, exit_code=0 if status is JobStatus.SUCCEEDED else 2, cpu_seconds=1.5,
                      peak_memory_bytes=2048, wall_seconds=3.0)  # fmt: skip
    return record_outcome(context, job, outcome)


def test_jobs_are_listed_read_and_their_output_paged(
    make_context: Callable[..., Context], serve: Callable[[Context], httpx.Client]
) -> None:
    context = make_context()
    first = _recorded(context, "default", "prepare", ["line 1\n", "line 2\n", "line 3\n"],
                      JobStatus.SUCCEEDED)  # fmt: skip
    second = _recorded(context, "default", "train", ["boom\n"], JobStatus.FAILED)
    client = serve(context)

    listed = client.get(API)
    assert listed.status_code == 200, listed.text
    assert [job["id"] for job in listed.json()["jobs"]] == [second.id, first.id]
    assert listed.json()["next_offset"] is None
    page = client.get(API, params={"limit": 1})
    assert [job["id"] for job in page.json()["jobs"]] == [second.id]
    assert page.json()["next_offset"] == 1
    failed = client.get(API, params={"status": "failed"}).json()["jobs"]
    assert [job["name"] for job in failed] == ["train"]

    one = client.get(f"{API}/{first.id}").json()
    assert (one["status"], one["entry"], one["args"]) == (
        "succeeded",
        "prepare.py",
        ["--epochs", "2"],
    )
    assert (one["cpu_seconds"], one["peak_memory_bytes"], one["gpu_seconds"]) == (1.5, 2048, None)
    assert one["run_id"] == first.run_id

    logs = client.get(f"{API}/{first.id}/logs").json()
    assert logs == {"job_id": first.id, "text": "line 1\nline 2\nline 3\n", "offset": 0,
                    "next_offset": 3, "status": "succeeded", "finished": True}  # fmt: skip
    rest = client.get(f"{API}/{first.id}/logs", params={"offset": 2}).json()
    assert (rest["text"], rest["next_offset"]) == ("line 3\n", 3)
    assert client.get(f"{API}/{first.id}/logs", params={"offset": 3}).json()["text"] == ""


MALFORMED = [
    ("GET", f"{API}/abc", 422, "path.job_id"),
    ("GET", f"{API}/0", 422, "path.job_id"),
    ("GET", f"{API}/99999999999", 422, "path.job_id"),
    ("GET", f"{API}?status=exploded", 422, "query.status"),
    ("GET", f"{API}?limit=0", 422, "query.limit"),
    ("GET", f"{API}/1/logs?offset=-1", 422, "query.offset"),
    ("GET", f"{API}/404", 404, None),
    ("POST", f"{API}/404/cancel", 404, None),
    ("POST", API, 405, None),  # no submission over REST: it would run code on the server
]


def test_malformed_requests_are_4xx_naming_the_field(
    make_context: Callable[..., Context], serve: Callable[[Context], httpx.Client]
) -> None:
    client = serve(make_context())
    for method, path, status, field in MALFORMED:
        body = {"entry": "evil.py"} if method == "POST" else None
        answer = client.request(method, path, json=body)
        assert answer.status_code == status, (path, answer.text)
        if field is not None:
            assert answer.json()["field"] == field, path


def test_cancelling_a_running_job_over_http_ends_its_tree(
    make_context: Callable[..., Context],
    serve: Callable[[Context], httpx.Client],
    tmp_path: Path,
) -> None:
    from kiln.training._job_control import submit_job, wait_job

    context = make_context()
    write(tmp_path, "tree.py", TREE)
    job = submit_job("tree.py", context=context)
    pids = tree_pids(context, job.id)
    client = serve(context)
    running = client.get(f"{API}/{job.id}/logs").json()
    assert (running["status"], running["finished"]) == ("running", False)
    asked = client.post(f"{API}/{job.id}/cancel")
    assert asked.status_code == 202, asked.text
    assert asked.json()["cancel_requested"] is True
    assert wait_job(job.id, timeout=30, context=context).status is JobStatus.CANCELLED
    assert_gone(pids)
    again = client.post(f"{API}/{job.id}/cancel")
    assert again.status_code == 409
    assert "already ended (cancelled)" in again.json()["message"]


def test_viewers_read_and_editors_cancel(
    make_context: Callable[..., Context], serve: Callable[[Context], httpx.Client]
) -> None:
    context = make_context(auth=True)
    db = context.db
    db.run(auth.create_project, "shop")
    tokens = {}
    for name, role in (("eve", "editor"), ("vic", "viewer")):
        db.run(auth.create_user, name)
        db.run(auth.set_member, "shop", name, role)
        tokens[name] = db.run(auth.create_token, name, "shop").secret
    spec = JobSpec(name="queued", entry="train.py", working_dir="/tmp")
    queued = db.run(create_job, "shop", spec)
    client = serve(context)

    def call(user: str | None, method: str, path: str) -> httpx.Response:
        headers: dict[str, Any] = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
        return client.request(method, path, headers=headers)

    assert call(None, "GET", API).status_code == 401
    for path in (API, f"{API}/{queued.id}", f"{API}/{queued.id}/logs"):
        assert call("vic", "GET", path).status_code == 200, path
    # The job's page offers Cancel to editors only (the API refuses viewers anyway).
    page = f"/jobs/{queued.id}?project=shop"
    assert "Cancel job" not in call("vic", "GET", page).text
    assert "Cancel job" in call("eve", "GET", page).text
    denied = call("vic", "POST", f"{API}/{queued.id}/cancel")
    assert denied.status_code == 403
    assert "viewer" in denied.json()["message"]
    allowed = call("eve", "POST", f"{API}/{queued.id}/cancel")
    assert allowed.status_code == 202, allowed.text
    assert allowed.json()["cancel_requested"] is True
