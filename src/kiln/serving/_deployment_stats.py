"""What a deployment's traffic looked like, read from its prediction log: read-only services.

::

    read_predictions(since, until) ──► pandas frame of the scalar columns
        │   per route and model version: requests per time bucket, latency p50/p95/p99, errors
        └── shadow answers joined to the primary answer of the same request id:
            agreement of their outputs (JSON, parsed in one pass by pyarrow) and a few
            disagreements to look at

Everything is column-wise (pandas group-bys, Arrow kernels, NumPy); nothing
loops over requests in Python, so a day of traffic costs what reading it
costs. The log names the model version that answered, not the arm: an arm
such as ``fraud@champion`` is shown beside the versions it resolves to now
(``arm_versions``), and a version an alias pointed at earlier has no arm.
The UI pages and ``GET /api/v1/deployments/{name}/stats`` call these.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from kiln.db import utcnow
from kiln.errors import InvalidInput, KilnError
from kiln.serving._output_agreement import outputs_agree

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from sqlalchemy.orm import Session

    from kiln.context import Context
    from kiln.serving._deployments import Deployment

__all__ = [
    "ArmStats",
    "DeploymentStats",
    "Disagreement",
    "ShadowResult",
    "Traffic",
    "arm_versions",
    "deployment_stats",
    "logged_names",
    "parse_duration",
    "recent_traffic",
]

#: Bucket widths tried in turn until a range fits in ``TARGET_BUCKETS``.
BUCKET_LADDER = (10, 30, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400)
TARGET_BUCKETS = 60
#: The most buckets one answer holds; a narrower bucket over a long range is refused.
MAX_BUCKETS = 2000
#: Disagreements kept per shadow and primary version, to look at.
EXAMPLES = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*")


@dataclass(frozen=True, slots=True)
class ArmStats:
    """One model version on one route: its requests, errors and latency."""

    route: str
    model: str
    version: int | None
    requests: int
    errors: int
    #: Latency percentiles over every request of the group, in milliseconds.
    p50_ms: float
    p95_ms: float
    p99_ms: float
    #: Requests per bucket of ``DeploymentStats.buckets``.
    counts: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.model if self.version is None else f"{self.model}/{self.version}"

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "model": self.model,
            "version": self.version,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "latency_ms": {"p50": self.p50_ms, "p95": self.p95_ms, "p99": self.p99_ms},
            "counts": self.counts,
        }


@dataclass(frozen=True, slots=True)
class Disagreement:
    """One request whose shadow answered otherwise than its primary (outputs as logged)."""

    request_id: str
    time: datetime
    primary: Any
    shadow: Any


@dataclass(frozen=True, slots=True)
class ShadowResult:
    """A shadow version against the primary version that answered the same requests."""

    shadow_model: str
    shadow_version: int | None
    primary_model: str
    primary_version: int | None
    compared: int
    agreed: int
    examples: list[Disagreement]

    @property
    def agreement(self) -> float:
        return self.agreed / self.compared if self.compared else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "shadow": {"model": self.shadow_model, "version": self.shadow_version},
            "primary": {"model": self.primary_model, "version": self.primary_version},
            "compared": self.compared,
            "agreed": self.agreed,
            "agreement": self.agreement,
            "examples": [asdict(example) for example in self.examples],
        }


@dataclass(frozen=True, slots=True)
class DeploymentStats:
    """A deployment's traffic over ``[since, until)`` in buckets of ``bucket_seconds``."""

    deployment: str
    since: datetime
    until: datetime
    bucket_seconds: int
    #: The start of every bucket, oldest first.
    buckets: list[datetime]
    #: Primary routes first, then shadows; each by model and version.
    arms: list[ArmStats]
    shadows: list[ShadowResult]
    #: Successful shadow answers whose request has no successful primary answer in the range.
    unmatched_shadows: int

    @property
    def requests(self) -> int:
        """Requests answered to callers (shadow copies are not requests of their own)."""
        return sum(arm.requests for arm in self.arms if arm.route != "shadow")

    @property
    def errors(self) -> int:
        return sum(arm.errors for arm in self.arms if arm.route != "shadow")

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "since": self.since,
            "until": self.until,
            "bucket_seconds": self.bucket_seconds,
            "requests": self.requests,
            "errors": self.errors,
            "buckets": self.buckets,
            "arms": [arm.to_dict() for arm in self.arms],
            "shadows": [shadow.to_dict() for shadow in self.shadows],
            "unmatched_shadows": self.unmatched_shadows,
        }


@dataclass(frozen=True, slots=True)
class Traffic:
    """A deployment's answered requests and errors over a recent window."""

    requests: int
    errors: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def parse_duration(text: str | int | float, *, field: str) -> timedelta:
    """``90``, ``"90s"``, ``"5m"``, ``"1h"`` or ``"7d"`` as a positive length of time."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        found = _DURATION.fullmatch(str(text))
        if found is None:
            raise InvalidInput(
                f"{field} must be a length of time such as 90, 90s, 5m, 1h or 7d, got {text!r}",
                field=field,
            )
        seconds = float(found.group(1)) * _UNITS[found.group(2) or "s"]
    if not 0 < seconds <= 366 * 86400:
        raise InvalidInput(f"{field} must be more than 0 and at most a year", field=field)
    return timedelta(seconds=seconds)


def _bucket_seconds(span: timedelta, bucket: timedelta | None) -> int:
    if bucket is None:
        wanted = span.total_seconds() / TARGET_BUCKETS
        return next((size for size in BUCKET_LADDER if size >= wanted), BUCKET_LADDER[-1])
    seconds = max(int(bucket.total_seconds()), 1)
    if span.total_seconds() / seconds > MAX_BUCKETS:
        raise InvalidInput(
            f"a bucket of {seconds} s cuts {span} into more than {MAX_BUCKETS} buckets; "
            "choose a wider bucket or a shorter range",
            field="bucket",
        )
    return seconds


def deployment_stats(
    context: Context,
    project: str,
    deployment: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: timedelta | None = None,
) -> DeploymentStats:
    """The traffic of ``deployment`` over ``[since, until)`` (default: the last hour until now).

    ``bucket`` is the width of a request-count bucket; by default the
    narrowest of ``BUCKET_LADDER`` giving at most ``TARGET_BUCKETS``.
    Buckets start on whole multiples of their width (a minute's on the
    minute), so the first one may begin before ``since``.
    """
    from kiln.serving._predictions_index import check_range, read_predictions

    until = until or utcnow()
    since = since or until - timedelta(hours=1)
    check_range(since, until)
    seconds = _bucket_seconds(until - since, bucket)
    width = timedelta(seconds=seconds)
    first = since - (since - _EPOCH) % width
    count = max(-(-(until - first) // width), 1)
    table = read_predictions(context, project, deployment, since=since, until=until)
    frame = _frame(table)
    frame["bucket"] = ((frame["time"] - first) // width).clip(0, count - 1)
    shadows, unmatched = _shadow_results(table, frame)
    return DeploymentStats(
        deployment=deployment,
        since=since,
        until=until,
        bucket_seconds=seconds,
        buckets=[first + width * i for i in range(count)],
        arms=_arm_stats(frame, count),
        shadows=shadows,
        unmatched_shadows=unmatched,
    )


def recent_traffic(
    context: Context, project: str, deployments: Sequence[str], since: datetime
) -> dict[str, Traffic]:
    """Each deployment's answered requests and errors since ``since`` (shadows not counted)."""
    from kiln.serving._predictions_index import read_predictions

    found: dict[str, Traffic] = {}
    for name in deployments:
        frame = _frame(read_predictions(context, project, name, since=since))
        primary = frame[frame["route"] != "shadow"]
        found[name] = Traffic(len(primary), int(primary["failed"].sum()))
    return found


def _frame(table: pa.Table) -> pd.DataFrame:
    """The scalar columns as pandas, with ``failed`` (status >= 400 or an error) and ``row``.

    A missing version is -1 here, so that grouping by version keeps it.
    """
    import pyarrow.compute as pc

    columns = ["request_id", "model", "route", "latency_ms", "status", "time"]
    frame: pd.DataFrame = table.select(columns).to_pandas()
    frame["version"] = pc.fill_null(table["version"], -1).to_numpy()
    errored = pc.is_valid(table["error"]).to_numpy(zero_copy_only=False)
    frame["failed"] = (frame["status"] >= 400).to_numpy() | errored
    frame["row"] = np.arange(len(frame))
    return frame


def _version(value: Any) -> int | None:
    return None if int(value) < 0 else int(value)


_KEYS = ["route", "model", "version"]


def _arm_stats(frame: pd.DataFrame, buckets: int) -> list[ArmStats]:
    import pandas as pd

    if frame.empty:
        return []
    groups = frame.groupby(_KEYS)
    latency = groups["latency_ms"]
    summary = pd.DataFrame(
        {
            "requests": groups.size(),
            "errors": groups["failed"].sum(),
            "p50": latency.quantile(0.5),
            "p95": latency.quantile(0.95),
            "p99": latency.quantile(0.99),
        }
    )
    counts = (
        frame.groupby([*_KEYS, "bucket"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=summary.index, columns=range(buckets), fill_value=0)
        .to_numpy(dtype=np.int64)
    )
    arms = []
    for position, (key, row) in enumerate(summary.iterrows()):  # one per version and route
        route, model, version = cast("tuple[Any, Any, Any]", key)
        arms.append(
            ArmStats(
                route=str(route),
                model=str(model),
                version=_version(version),
                requests=int(row["requests"]),
                errors=int(row["errors"]),
                p50_ms=float(row["p50"]),
                p95_ms=float(row["p95"]),
                p99_ms=float(row["p99"]),
                counts=counts[position].tolist(),
            )
        )
    arms.sort(key=lambda a: (a.route == "shadow", a.route, a.model, a.version or 0))
    return arms


def _shadow_results(table: pa.Table, frame: pd.DataFrame) -> tuple[list[ShadowResult], int]:
    """Each shadow version against each primary version, over the requests both answered."""

    ok = frame[~frame["failed"]]
    shadow = ok[ok["route"] == "shadow"]
    if shadow.empty:
        return [], 0
    primary = ok[ok["route"] != "shadow"].drop_duplicates("request_id")
    pairs = shadow.merge(primary, on="request_id", suffixes=("_s", "_p"))
    unmatched = len(shadow) - len(pairs)
    if pairs.empty:
        return [], unmatched
    outputs = table["outputs"]
    results = []
    keys = ["model_s", "version_s", "model_p", "version_p"]
    # One comparison per pair of versions: their outputs share one shape, while two
    # other versions may not (labels as numbers in one, as text in the next).
    for key, group in pairs.groupby(keys, sort=True):
        model_s, version_s, model_p, version_p = key
        agreed = outputs_agree(
            outputs.take(group["row_p"].to_numpy()), outputs.take(group["row_s"].to_numpy())
        )
        wrong = group[~agreed].sort_values("time_p").head(EXAMPLES)
        results.append(
            ShadowResult(
                shadow_model=str(model_s),
                shadow_version=_version(version_s),
                primary_model=str(model_p),
                primary_version=_version(version_p),
                compared=len(group),
                agreed=int(agreed.sum()),
                examples=_examples(outputs, wrong),
            )
        )
    return results, unmatched


def _examples(outputs: pa.ChunkedArray, wrong: pd.DataFrame) -> list[Disagreement]:
    import orjson

    primary = outputs.take(wrong["row_p"].to_numpy()).to_pylist()
    shadow = outputs.take(wrong["row_s"].to_numpy()).to_pylist()
    return [
        Disagreement(str(rid), moment.to_pydatetime(), orjson.loads(p), orjson.loads(s))
        for rid, moment, p, s in zip(
            wrong["request_id"], wrong["time_p"], primary, shadow, strict=True
        )
    ]


def arm_versions(session: Session, project: str, record: Deployment) -> dict[str, str]:
    """Each arm and shadow of ``record`` → the ``model/version`` it resolves to now.

    An arm the registry cannot resolve (a removed alias, a run or folder
    URI) is left out: the pages show it without a version.
    """
    from kiln.registry._aliases import get_version_by_alias
    from kiln.registry._uri import parse_models_uri
    from kiln.registry._versions import get_model_version, latest_model_version
    from kiln.serving._deployments import arm_uri

    found: dict[str, str] = {}
    for arm in record.arms():
        uri = arm_uri(arm)
        if not uri.startswith("models:/"):
            continue
        try:
            ref = parse_models_uri(uri)
            if ref.alias is not None:
                version = get_version_by_alias(session, project, ref.name, ref.alias)
            elif ref.version == "latest":
                version = latest_model_version(session, project, ref.name)
            else:
                assert ref.version is not None
                version = get_model_version(session, project, ref.name, ref.version)
        except KilnError:
            continue
        found[arm] = f"{version.name}/{version.version}"
    return found


def logged_names(record: Deployment) -> dict[str, str]:
    """Arms naming no registered model (a run or folder URI) → the model name they log under.

    The server serves such a model by ``arm_key(arm)`` and logs its answers by that name,
    with no version.
    """
    from kiln.serving._deployed import arm_key
    from kiln.serving._deployments import arm_uri

    return {arm: arm_key(arm) for arm in record.arms() if not arm_uri(arm).startswith("models:/")}
