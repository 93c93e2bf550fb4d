"""Exporting labels in the background over real HTTP: ``POST .../export`` with
``"background": true`` (or a project past ``INLINE_LIMIT``) answers 202 with a job that the
real supervisor runs in a process of its own; the job ends succeeded, its dataset version
holds exactly the labelled rows, its logs say what it registered, its run is tagged with the
version, and the caller is its user. Bad input is refused before any job exists; a job
whose labeling project went away fails with the reason, not a traceback.

The server runs in this process (``BackgroundServer``), so monkeypatching
``_export_job.INLINE_LIMIT`` reaches it. ``export_in_background`` (the SDK) is checked here
too: it is the same submission without HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from kiln.config import Settings
from kiln.context import Context, using_context
from kiln.labeling import _export_job, _intake, _projects, _tasks
from kiln.labeling._export_job import EXPERIMENT, RUN_TAG
from kiln.tracking import _fluent
from kiln.training._job_control import list_jobs, wait_job
from kiln.training._jobs import Job, JobStatus
from tests.server._labeling_team import Team, member_tokens, serving
from tests.server.test_labeling_api import API, _error
from tests.ui._labeling import DONE, PROJECT, SENTIMENT, SENTIMENT_SCHEMA, make_projects

pytestmark = pytest.mark.timeout(240)

#: A project of five reviews, three of them labelled (one answer each; k4 also reviewed).
REVIEWS = "shop-reviews"
LABELLED = {"k0": "positive", "k2": "negative", "k4": "neutral"}


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    import pyarrow as pa

    home = tmp_path_factory.mktemp("labeling-export-api")
    context = Context(Settings(home=home, project=PROJECT, auth=True))
    make_projects(context, with_model=False)
    context.db.run(_projects.create_project, PROJECT, REVIEWS, SENTIMENT_SCHEMA, user="seed")
    frame = pd.DataFrame(
        {"id": [f"k{i}" for i in range(5)], "text": [f"review {i}" for i in range(5)]}
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    _intake.add_from_table(context, PROJECT, REVIEWS, table, key_column="id")
    found, _ = context.db.read(_tasks.list_tasks, PROJECT, REVIEWS, limit=100)
    ids = {t.item_key: t.id for t in found}
    for key, label in LABELLED.items():
        context.db.run(_tasks.submit, PROJECT, REVIEWS, ids[key], "seed", label)
    context.db.run(_tasks.review_task, PROJECT, REVIEWS, ids["k4"], "rita", "neutral")
    secrets = member_tokens(context)
    try:
        with serving(context) as client:
            yield Team(context, client, secrets)
    finally:
        _fluent._reset_for_tests()
        context.close()


def _jobs(team: Team) -> list[Job]:
    return list_jobs(limit=1000, context=team.context, project=PROJECT)


def _finished(team: Team, job_id: int) -> tuple[Job, str]:
    """The job once it ended, and its whole output."""
    output: list[str] = []
    job = wait_job(
        job_id, timeout=180, on_output=output.append, context=team.context, project=PROJECT
    )
    assert job.is_finished, job
    return job, "".join(output)


def _rows(team: Team, ref: str) -> dict[str, object]:
    with using_context(team.context):
        import kiln.data

        frame = kiln.data.load(ref)
    return dict(zip(frame["item_key"], frame["label"], strict=True))


def test_background_export_is_a_job_that_registers_the_labelled_rows(team: Team) -> None:
    answer = team.call(
        "lab-ana",
        "POST",
        f"{API}/{REVIEWS}/export",
        json={"dataset": "review-labels", "description": "nightly", "background": True},
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    job_id = body["job"]["id"]
    assert body["job_url"] == f"/api/v1/jobs/{job_id}"
    assert body["page_url"] == f"/jobs/{job_id}"
    assert answer.headers["Location"] == body["job_url"]
    assert body["job"]["entry"] == "kiln.labeling._export_job:main"
    assert body["job"]["name"] == f"export-{REVIEWS}"
    assert body["job"]["created_by"] == "lab-ana"
    assert body["job"]["working_dir"] == str(team.context.settings.home.resolve())
    polled = team.call("lab-vic", "GET", body["job_url"])
    assert polled.status_code == 200, polled.text

    job, logs = _finished(team, job_id)
    assert job.status is JobStatus.SUCCEEDED, (job.failure, logs)
    assert job.created_by == "lab-ana"
    assert "exported 3 of 3 labelled tasks" in logs
    assert "registered review-labels@1" in logs
    assert _rows(team, "review-labels@1") == LABELLED
    with using_context(team.context):
        import kiln.data
        from kiln import tracking

        version = kiln.data.get_version("review-labels@1")
        dataset = kiln.data.get_dataset("review-labels")
        assert job.run_id is not None
        run = tracking.get_run(job.run_id)
        exports = tracking._fluent.backend().ensure_experiment(EXPERIMENT)
    assert version.created_by == "lab-ana"
    assert (version.source, dataset.description) == (f"labeling:{REVIEWS}", "nightly")
    assert run.tags[RUN_TAG] == "review-labels@1"
    assert (run.user, run.experiment_id) == ("lab-ana", exports.id)
    assert team.call("lab-vic", "GET", body["job_url"]).json()["status"] == "succeeded"


def test_a_project_past_the_inline_limit_exports_in_the_background(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_export_job, "INLINE_LIMIT", 0)
    answer = team.call("lab-ana", "POST", f"{API}/{DONE}/export", json={"dataset": "done-auto"})
    assert answer.status_code == 202, answer.text
    job, logs = _finished(team, answer.json()["job"]["id"])
    assert job.status is JobStatus.SUCCEEDED, (job.failure, logs)
    assert _rows(team, "done-auto@1") == {"d1": "positive"}
    # Asked inline, it runs inline whatever the size.
    inline = team.call(
        "lab-ana",
        "POST",
        f"{API}/{DONE}/export",
        json={"dataset": "done-inline", "background": False},
    )
    assert inline.status_code == 201, inline.text
    assert inline.json()["ref"] == "done-inline@1"


def test_under_the_limit_an_automatic_export_stays_inline(team: Team) -> None:
    before = len(_jobs(team))
    answer = team.call("lab-ana", "POST", f"{API}/{REVIEWS}/export", json={"dataset": "small"})
    assert answer.status_code == 201, answer.text
    assert _rows(team, answer.json()["ref"]) == LABELLED
    assert len(_jobs(team)) == before


def test_bad_input_is_refused_before_any_job_exists(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(_jobs(team))
    export = f"{API}/{SENTIMENT}/export"
    empty = _error(
        team.call("lab-ana", "POST", export, json={"dataset": "x", "background": True}), 400, "name"
    )
    assert "no labelled task yet" in empty["message"]
    monkeypatch.setattr(_export_job, "INLINE_LIMIT", 0)
    _error(team.call("lab-ana", "POST", export, json={"dataset": "x"}), 400, "name")
    for background in (True, None):
        body = {"dataset": "x", "background": background}
        _error(team.call("lab-ana", "POST", f"{API}/nope/export", json=body), 404)
        bad = {"dataset": "a/b", "background": background}
        _error(team.call("lab-ana", "POST", f"{API}/{REVIEWS}/export", json=bad), 400, "dataset")
    too_long = {"dataset": "d" * 129, "background": True}
    _error(
        team.call("lab-ana", "POST", f"{API}/{REVIEWS}/export", json=too_long), 422, "body.dataset"
    )
    not_bool = {"dataset": "x", "background": "sometimes"}
    _error(
        team.call("lab-ana", "POST", f"{API}/{REVIEWS}/export", json=not_bool),
        422,
        "body.background",
    )
    viewer = {"dataset": "x", "background": True}
    _error(team.call("lab-vic", "POST", f"{API}/{REVIEWS}/export", json=viewer), 403)
    assert len(_jobs(team)) == before


def test_the_sdk_submits_the_same_job(team: Team) -> None:
    from kiln import labeling
    from kiln.errors import InvalidInput

    with using_context(team.context):
        job = labeling.export_in_background(REVIEWS, "sdk-labels", description="from python")
        with pytest.raises(InvalidInput) as refused:
            labeling.export_in_background(SENTIMENT, "sdk-labels")
    assert refused.value.field == "name"
    assert job.entry == _export_job.ENTRY
    assert job.args == (REVIEWS, "sdk-labels", "from python", job.created_by)
    done, logs = _finished(team, job.id)
    assert done.status is JobStatus.SUCCEEDED, (done.failure, logs)
    assert _rows(team, "sdk-labels@1") == LABELLED


def test_a_job_whose_project_went_away_fails_with_the_reason(team: Team) -> None:
    from kiln.training._job_control import submit_job

    job = submit_job(
        _export_job.ENTRY,
        ["gone", "gone-labels", "", ""],
        workdir=team.context.settings.home,
        context=team.context,
        project=PROJECT,
    )
    done, logs = _finished(team, job.id)
    assert done.status is JobStatus.FAILED
    assert "export failed: no labeling project 'gone'" in logs
    assert "Traceback" not in logs
