"""The UI tests' deployments: project ``deploy-shop`` of the demo store, made once per session
however many modules ask. Its own project, so the demo's pages stay as the other tests expect.

- ``scorer`` v1 (``@champion``) and v2 (``@challenger``), registered without files: the
  pages only read records and the prediction log, nothing is served.
- ``fraud-api``: created on ``scorer@champion`` alone, then (revision 2, by ``alice``) a
  canary ``scorer@champion`` 80 / ``scorer/2`` 20 with ``scorer@challenger`` as a shadow.
  Its prediction log, written by the real ``PredictionLog``: ``REQUESTS`` answers in the
  last 20 minutes (every fifth by v2, ``ERRORS`` of v1's failed), ``SHADOWED`` of v1's
  answered again by the v2 shadow, ``DISAGREE`` of them otherwise; and ``OLD`` answers of
  3 hours ago, outside the last hour.
- ``ranker``: a bandit, epsilon-greedy (revision 1) then Thompson (revision 2), with the
  state a real ``Router`` learnt from 40 rewards saved on the record. A test rolls it back.
- ``deploy-editor`` and ``deploy-viewer``, with tokens for the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kiln import auth
from kiln.context import Context
from kiln.registry._aliases import set_alias
from kiln.registry._versions import create_model_version
from kiln.serving._deployments import create_deployment, save_bandit_state, set_traffic
from kiln.serving._prediction_log import PredictionLog, PredictionRecord
from kiln.serving._routing import Router, TrafficPolicy
from tests.ui._seed import settings

PROJECT = "deploy-shop"
REQUESTS = 40
ERRORS = 3
SHADOWED = 20
DISAGREE = 5
OLD = 5
FRAUD = {
    "arms": [{"name": "scorer@champion", "weight": 80}, {"name": "scorer/2", "weight": 20}],
    "shadows": ["scorer@challenger"],
}


@dataclass(frozen=True)
class DeploymentSeed:
    now: datetime
    editor_token: str
    viewer_token: str


_SEEDED: dict[Path, DeploymentSeed] = {}


def seed(home: Path) -> DeploymentSeed:
    if home not in _SEEDED:
        context = Context(settings(home).model_copy(update={"project": PROJECT}))
        try:
            _SEEDED[home] = _seed(context)
        finally:
            context.close()
    return _SEEDED[home]


def _seed(context: Context) -> DeploymentSeed:
    db = context.db
    db.run(auth.ensure_project, PROJECT)
    for version in (1, 2):
        db.run(
            create_model_version,
            PROJECT,
            "scorer",
            f"/nowhere/scorer-{version}",
            create_model=True,
            require_manifest=False,
        )
    db.run(set_alias, PROJECT, "scorer", "champion", 1, actor="seed")
    db.run(set_alias, PROJECT, "scorer", "challenger", 2, actor="seed")

    only = {"arms": [{"name": "scorer@champion", "weight": 100}]}
    db.run(create_deployment, PROJECT, "fraud-api", only, description="card fraud", user="seed")
    db.run(set_traffic, PROJECT, "fraud-api", FRAUD, note="canary v2, shadow it", user="alice")
    now = datetime.now(UTC)
    _log(context, now)

    greedy = {
        "mode": "bandit",
        "arms": ["scorer/1", "scorer/2"],
        "bandit": {"algorithm": "epsilon_greedy", "epsilon": 0.2},
    }
    thompson = {**greedy, "bandit": {"algorithm": "thompson", "seed": 7}}
    db.run(create_deployment, PROJECT, "ranker", greedy, user="seed")
    db.run(set_traffic, PROJECT, "ranker", thompson, note="thompson", user="alice")
    router = Router(TrafficPolicy.from_dict(thompson))
    for i in range(40):
        arm = router.route().arm
        router.feedback(arm, 1.0 if (arm == "scorer/2") == (i % 4 != 0) else 0.0)
    db.run(save_bandit_state, PROJECT, "ranker", router.state())

    tokens = {}
    for user, role in (("deploy-editor", "editor"), ("deploy-viewer", "viewer")):
        db.run(auth.create_user, user)
        db.run(auth.set_member, PROJECT, user, role)
        tokens[role] = db.run(auth.create_token, user, PROJECT).secret
    return DeploymentSeed(now, tokens["editor"], tokens["viewer"])


def _log(context: Context, now: datetime) -> None:
    """fraud-api's prediction log, as a model server would have written it."""
    log = PredictionLog(context, project=PROJECT)
    try:
        for i in range(OLD):
            log.record(_answer(f"old-{i}", 1, now - timedelta(hours=3, minutes=i), label=0))
        failed = {3, 7, 11}
        for i in range(REQUESTS):
            at = now - timedelta(minutes=20) + timedelta(seconds=29 * i)
            version = 2 if i % 5 == 0 else 1
            label = i % 2
            slow = 40.0 if i in (9, 18) else (i % 4) * 0.5
            log.record(
                _answer(f"req-{i}", version, at, label=label, failed=i in failed, latency=slow)
            )
        shadowed = [i for i in range(REQUESTS) if i % 5 and i not in failed][:SHADOWED]
        for n, i in enumerate(shadowed):
            label = i % 2 if n >= DISAGREE else 1 - i % 2
            at = now - timedelta(minutes=20) + timedelta(seconds=29 * i)
            log.record(_answer(f"req-{i}", 2, at, label=label, route="shadow"))
        log.flush()
    finally:
        log.close()


def _answer(
    request_id: str,
    version: int,
    at: datetime,
    *,
    label: int,
    route: str = "primary",
    failed: bool = False,
    latency: float = 0.0,
) -> PredictionRecord:
    return PredictionRecord(
        request_id=request_id,
        deployment="fraud-api",
        model="scorer",
        version=version,
        route=route,
        inputs={"amount": [12.5 + version], "hour": [3]},
        outputs={} if failed else {"predictions": [label]},
        n_rows=1,
        latency_ms=(8.0 if version == 1 else 14.0) + (3.0 if route == "shadow" else 0.0) + latency,
        status=500 if failed else 200,
        error="ValueError: the scorer cannot score that amount" if failed else None,
        time=at,
    )
