"""The serving stage's deployment is made once and put back, and its log summary counts right."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from kiln import auth
from kiln.context import Context
from kiln.demo import DEMO_PROJECT
from kiln.demo._serving import DEPLOYMENT, deploy, summarize_log
from kiln.serving._deployments import deployment_history, set_traffic

POLICY = {
    "arms": [
        {"name": "fraud-detector@champion", "weight": 90},
        {"name": "fraud-detector/2", "weight": 10},
    ],
    "sticky_key": "customer_id",
    "shadows": ["runs:/abc/model"],
}


def test_deploy_creates_then_changes_only_what_differs(
    make_context: Callable[..., Context],
) -> None:
    context = make_context()
    context.db.run(auth.ensure_project, DEMO_PROJECT, "")
    first, created = deploy(context, POLICY, user="demo")
    again, unchanged = deploy(context, POLICY, user="demo")
    assert (created, unchanged) == ("created", "unchanged")
    assert first.revision == again.revision == 1
    other = {"arms": [{"name": "fraud-detector/2", "weight": 100}]}
    context.db.run(set_traffic, DEMO_PROJECT, DEPLOYMENT, other, note="by hand")
    back, change = deploy(context, POLICY, user="demo")
    assert (back.revision, change) == (3, "traffic set")
    assert back.policy.shadows == ("runs:/abc/model",)
    history = context.db.read(deployment_history, DEMO_PROJECT, DEPLOYMENT)
    assert [e.action for e in history] == ["set", "set", "create"]


def test_summarize_log_counts_versions_shadows_and_agreement() -> None:
    rows = [
        ("a", 1, "primary", 0),
        ("a", None, "shadow", 0),
        ("b", 2, "primary", 1),
        ("b", None, "shadow", 0),
        ("c", 1, "primary", 1),  # its shadow never answered
    ]
    table = pa.table(
        {
            "request_id": [r[0] for r in rows],
            "version": pa.array([r[1] for r in rows], pa.int64()),
            "route": [r[2] for r in rows],
            "outputs": [f'{{"predictions":[{r[3]}]}}' for r in rows],
        }
    )
    logged = summarize_log(table)
    assert logged.primary == {1: 2, 2: 1}
    assert (logged.shadowed, logged.compared, logged.agreed) == (2, 2, 1)
    assert logged.flagged == {"primary": 2, "shadow": 0}
