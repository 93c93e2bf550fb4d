"""Deployments: the list, and one deployment's traffic, shadows, bandit, history and rollback.

Pages read through the same services as ``/api/v1/deployments``: the
records from ``kiln.serving._deployments``, the traffic from the prediction
log through ``kiln.serving._deployment_stats``. The traffic split is a
stacked bar drawn here as inline SVG (with the weights as text beside it);
the request rate is a plotly.js chart built by ``_charts``. Rolling back is a
form that calls ``POST /api/v1/deployments/{name}/rollback`` from the page
(``kiln.js``, with the UI's CSRF header, after a confirmation), so the API's
roles and audit log apply; it is rendered for editors only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from kiln.server.deps import ContextDep
from kiln.server.ui import _charts
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import render

if TYPE_CHECKING:
    from kiln.serving._deployment_stats import ArmStats, DeploymentStats
    from kiln.serving._deployments import Deployment

router = APIRouter(route_class=UiRoute)

NamePath = Annotated[str, Path(min_length=1, max_length=128)]
#: The windows a deployment's page offers, as ``since`` takes them.
WINDOWS = (("15m", "15 minutes"), ("1h", "hour"), ("6h", "6 hours"), ("24h", "24 hours"))
WINDOW_NAMES = dict(WINDOWS)
#: The list's traffic columns cover this much.
RECENT = timedelta(hours=1)
_BAR_WIDTH = 480
_BAR_HEIGHT = 22


def deployment_url(name: str) -> str:
    return f"/deployments/{quote(name, safe='')}"


def model_version_url(label: str) -> str | None:
    """The page of a ``model/version`` label (None for a label that is no registered version)."""
    model, _, version = label.rpartition("/")
    return f"/models/{quote(model, safe='')}/versions/{version}" if version.isdigit() else None


def policy_summary(policy: Mapping[str, Any]) -> str:
    """A policy in one line: ``fraud@champion 90%, fraud/3 10%; shadows fraud/4``."""
    arms = [
        f"{arm['name']} {arm['weight']:g}%" if arm.get("weight") is not None else arm["name"]
        for arm in policy.get("arms", [])
    ]
    text = ", ".join(arms)
    if policy.get("mode") == "bandit" and policy.get("bandit"):
        text = f"bandit {policy['bandit'].get('algorithm')} over {text}"
    if policy.get("shadows"):
        text += "; shadows " + ", ".join(policy["shadows"])
    if policy.get("sticky_key"):
        text += f"; sticky on {policy['sticky_key']}"
    return text


@dataclass(frozen=True, slots=True)
class Segment:
    """One arm's part of the split bar: where it starts, how wide, its colour and words."""

    arm: str
    share: float
    x: float
    width: float
    colour: str


def split_segments(shares: Sequence[tuple[str, float]]) -> list[Segment]:
    """The stacked bar's segments, left to right, for ``(arm, percent)`` pairs."""
    total = sum(share for _, share in shares) or 1.0
    segments, x = [], 0.0
    for index, (arm, share) in enumerate(shares):
        width = share / total * _BAR_WIDTH
        segments.append(Segment(arm, share, x, width, _charts.colour(index)))
        x += width
    return segments


def _shares(record: Deployment) -> tuple[list[tuple[str, float]], str]:
    """What the bar shows: the split's weights, or a bandit's pulls so far."""
    policy = record.policy
    if policy.mode == "split":
        return [(arm.name, float(arm.weight or 0.0)) for arm in policy.arms], "weights"
    arms = (record.bandit_state or {}).get("arms") or {}
    pulls = {arm.name: int((arms.get(arm.name) or {}).get("pulls", 0)) for arm in policy.arms}
    total = sum(pulls.values())
    if not total:
        return [], "pulls"
    return [(name, count / total * 100) for name, count in pulls.items()], "pulls"


@dataclass(frozen=True, slots=True)
class BanditArm:
    """One arm's learnt statistics, as the saved bandit state has them."""

    arm: str
    pulls: int
    rewards: int
    mean: float | None
    ucb: float | None
    alpha: float | None
    beta: float | None

    @property
    def posterior_mean(self) -> float | None:
        if self.alpha is None or self.beta is None:
            return None
        return self.alpha / (self.alpha + self.beta)


def bandit_arms(state: Mapping[str, Any] | None) -> list[BanditArm]:
    if not state or state.get("mode") == "split":
        return []
    rows = []
    for arm, stats in (state.get("arms") or {}).items():
        rows.append(
            BanditArm(
                arm=str(arm),
                pulls=int(stats.get("pulls", 0)),
                rewards=int(stats.get("rewards", 0)),
                mean=stats.get("mean"),
                ucb=stats.get("ucb"),
                alpha=stats.get("alpha"),
                beta=stats.get("beta"),
            )
        )
    return rows


def rate_chart(stats: DeploymentStats) -> dict[str, Any]:
    """Requests per minute over time, one line per route and version."""
    xs = [moment.timestamp() * 1000 for moment in stats.buckets]
    per_minute = 60 / stats.bucket_seconds
    series = [
        _charts.Series(f"{arm.label} ({arm.route})", xs, [n * per_minute for n in arm.counts])
        for arm in stats.arms
    ]
    spec = _charts.line_chart(series, "Requests per minute", "time (UTC)", "requests / min")
    spec["layout"]["xaxis"]["type"] = "date"
    spec["layout"]["yaxis"]["rangemode"] = "tozero"
    return spec


@router.get("/deployments")
def deployments_list(request: Request, context: ContextDep, viewing: Reader) -> Response:
    """Every deployment: revision, mode, arms, shadows and the last hour's traffic."""
    from kiln.db import utcnow
    from kiln.serving._deployment_stats import recent_traffic
    from kiln.serving._deployments import list_deployments

    records = context.db.read(list_deployments, viewing.project)
    traffic = recent_traffic(
        context, viewing.project, [record.name for record in records], utcnow() - RECENT
    )
    return render(
        request,
        "deployments.html",
        viewing,
        title="Deployments",
        records=records,
        traffic=traffic,
        deployment_url=deployment_url,
    )


@router.get("/deployments/{name}")
def deployment_page(
    request: Request,
    name: NamePath,
    context: ContextDep,
    viewing: Reader,
    since: Annotated[str, Query(pattern="^(15m|1h|6h|24h)$")] = "1h",
) -> Response:
    """The split, traffic per version, shadow agreement, bandit state, history and rollback."""
    from kiln.db import utcnow
    from kiln.serving._deployment_stats import (
        arm_versions,
        deployment_stats,
        logged_names,
        parse_duration,
    )
    from kiln.serving._deployments import deployment_history, get_deployment

    project = viewing.project
    record = context.db.read(get_deployment, project, name)
    history = context.db.read(deployment_history, project, name)
    versions = context.db.read(arm_versions, project, record)
    now = utcnow()
    stats = deployment_stats(
        context, project, name, since=now - parse_duration(since, field="since"), until=now
    )
    shares, shown = _shares(record)
    shadows = set(record.policy.shadows)

    unregistered = logged_names(record)

    def arms_now(arm: ArmStats) -> list[str]:
        """The arms (or shadows, for the shadow route) that answer as this version now."""
        found = [named for named, label in versions.items() if label == arm.label]
        if arm.version is None:
            found += [named for named, model in unregistered.items() if model == arm.model]
        return [named for named in found if (named in shadows) == (arm.route == "shadow")]

    return render(
        request,
        "deployment.html",
        viewing,
        title=f"Deployment {name}",
        charts=bool(stats.arms),
        record=record,
        history=history,
        versions=versions,
        arms_now=arms_now,
        stats=stats,
        chart=rate_chart(stats) if stats.arms else None,
        segments=split_segments(shares),
        shares_shown=shown,
        bar_width=_BAR_WIDTH,
        bar_height=_BAR_HEIGHT,
        bandit=bandit_arms(record.bandit_state),
        since=since,
        windows=WINDOWS,
        window_name=WINDOW_NAMES[since],
        api_url=f"/api/v1/deployments/{quote(name, safe='')}",
        page_url=deployment_url(name),
        policy_summary=policy_summary,
        model_version_url=model_version_url,
    )
