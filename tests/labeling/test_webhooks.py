"""Labeling webhooks: told when a task completes, behind the alert webhooks' address guard."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import kiln
from kiln import labeling
from kiln.alerts._address_guard import WEBHOOK_ALLOW_ENV
from kiln.errors import InvalidInput
from kiln.labeling._answers import completion_payload
from kiln.tracking import _fluent
from tests.monitoring._alert_servers import http_receiver

SCHEMA = {"task_type": "classification", "data_kind": "tabular", "labels": ["yes", "no"]}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[kiln.Context]:
    context = kiln.configure(home=tmp_path / "store")
    yield context
    _fluent._reset_for_tests()
    kiln.configure(home=tmp_path / "after")


def _wait(requests: list[object], count: int) -> None:
    deadline = time.monotonic() + 10
    while len(requests) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_completed_task_is_posted_to_the_projects_webhook(
    store: kiln.Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.1")
    with http_receiver() as receiver:
        labeling.create_project("q", SCHEMA, overlap=2, webhooks=[f"{receiver.url}/done"])
        labeling.add_tasks("q", pd.DataFrame({"x": [1], "answer": ["yes"]}), gold_column="answer")
        task = labeling.next_task("q", annotator="ana")
        labeling.submit("q", task.id, "yes", annotator="ana")
        time.sleep(0.3)
        assert receiver.requests == []  # one answer of two: not complete yet
        done = labeling.submit("q", task.id, "no", annotator="ben")
        _wait(receiver.requests, 1)
    (request,) = receiver.requests
    assert request.path == "/done"
    body = request.json()
    assert body == completion_payload("default", "q", done.task)
    assert body["event"] == "labeling.task.completed"
    assert body["task"]["id"] == task.id
    assert body["task"]["gold"] is None  # the gold answer never leaves with it
    assert {a["annotator"] for a in body["task"]["annotations"]} == {"ana", "ben"}


def test_a_refused_webhook_costs_no_answer_and_says_so_in_the_log(
    store: kiln.Context, caplog: pytest.LogCaptureFixture
) -> None:
    with http_receiver() as receiver:
        labeling.create_project("q", SCHEMA, webhooks=[f"{receiver.url}/done"])
        labeling.add_tasks("q", pd.DataFrame({"x": [1]}))
        task = labeling.next_task("q", annotator="ana")
        with caplog.at_level(logging.ERROR, logger="kiln.labeling"):
            done = labeling.submit("q", task.id, "yes", annotator="ana")
            deadline = time.monotonic() + 10
            while "refused" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.02)
    assert done.completed
    assert receiver.requests == []  # loopback is not allowed without KILN_WEBHOOK_ALLOW
    assert "labeling webhook" in caplog.text
    assert "refused" in caplog.text
    assert labeling.get_project("q").counts["complete"] == 1


@pytest.mark.parametrize("hooks", [["ftp://example.com/x"], ["not a url"], "http://one.example"])
def test_a_malformed_webhook_is_refused_when_the_project_is_made(
    store: kiln.Context, hooks: object
) -> None:
    with pytest.raises(InvalidInput) as caught:
        labeling.create_project("q", SCHEMA, webhooks=hooks)  # type: ignore[arg-type]
    assert caught.value.field == "webhooks"
