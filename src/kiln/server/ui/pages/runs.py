"""The run page: one run's overview, params, metrics, artifacts, environment, inputs, lineage.

Everything is read in one read-only transaction through the services the JSON
API uses, scoped to the viewer's project (another project's run is a 404, as
in the API). Charts come one page at a time (``CHARTS_PER_PAGE`` metrics), so
a run with hundreds of long metrics renders as fast as a small one; the
table lists every metric's latest value. ``part`` with ``X-Kiln-Partial``
returns just the params table or the charts, for ``kiln.js``'s partial swaps.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from kiln.artifacts import ArtifactStore, validate_artifact_path
from kiln.errors import NotFound
from kiln.registry import ModelVersion
from kiln.server.deps import ContextDep
from kiln.server.ui import _charts, _lineage
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import num, render
from kiln.server.ui.pages import artifacts
from kiln.tracking._entities import Experiment, Metric, Run, RunArtifact
from kiln.tracking._logged_models import LoggedModel

router = APIRouter(route_class=UiRoute)
router.include_router(artifacts.router)

CHARTS_PER_PAGE = 12
#: Params above this many get a filter box.
MANY_PARAMS = 20
#: Files listed in the artifact tree; the API and CLI list the rest.
TREE_LIMIT = 2000
#: Child runs, and MLflow logged models, listed on the page.
CHILDREN_LIMIT = 100
LOGGED_MODELS_LIMIT = 50
#: An environment file larger than this is not read while rendering.
ENV_FILE_LIMIT = 1 << 20
SYSTEM_TAG_PREFIXES = ("kiln.", "mlflow.")

Part = Literal["", "params", "charts"]


@dataclass(frozen=True, slots=True)
class RunData:
    """What the page shows, read in one transaction."""

    run: Run
    experiment: Experiment | None
    parent: Run | None
    children: list[Run]
    #: key → number of points, for every metric of the run
    counts: dict[str, int]
    charted: list[str]
    #: the page of charts shown (clamped to the last one) and its metrics' histories
    chart_page: int
    histories: dict[str, list[Metric]]
    files: list[RunArtifact]
    versions: list[ModelVersion]
    logged_models: list[LoggedModel]


def _charted(counts: dict[str, int]) -> list[str]:
    """Keys worth a chart (two points or more): the run's own first, then ``system/``."""
    keys = [key for key, points in counts.items() if points > 1]
    return sorted(keys, key=lambda key: (key.startswith("system/"), key.lower()))


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _load(session: Session, project: str, run_id: str, chart_page: int) -> RunData:
    from kiln.registry import _search as registry_search
    from kiln.tracking import _artifacts, _experiments, _history, _logged_models, _runs, _search

    run = _runs.get_run(session, project, run_id)
    try:
        experiment: Experiment | None = _experiments.get_experiment(
            session, project, run.experiment_id
        )
    except NotFound:
        experiment = None
    parent = None
    if run.parent_run_id:
        try:
            parent = _runs.get_run(session, project, run.parent_run_id)
        except NotFound:
            parent = None
    children, _ = _search.search_runs(
        session,
        project,
        filter_string=f"parent_run_id = {_quoted(run.id)}",
        order_by=["attributes.start_time ASC"],
        max_results=CHILDREN_LIMIT,
    )
    counts = _history.metric_point_counts(session, project, run.id)
    charted = _charted(counts)
    chart_page = min(chart_page, max(math.ceil(len(charted) / CHARTS_PER_PAGE), 1))
    page_keys = charted[(chart_page - 1) * CHARTS_PER_PAGE : chart_page * CHARTS_PER_PAGE]
    histories = (
        _runs.get_metric_histories(session, project, [run.id], page_keys).get(run.id, {})
        if page_keys
        else {}
    )
    logged: list[LoggedModel] = []
    outputs = [key for key in sorted(run.tags) if key.startswith("mlflow.loggedModel.")]
    for key in outputs[:LOGGED_MODELS_LIMIT]:
        model_id = key.removeprefix("mlflow.loggedModel.")
        try:
            logged.append(_logged_models.get_logged_model(session, project, model_id))
        except NotFound:  # deleted since: the run's tag outlives it
            continue
    sources = [_quoted(f"models:/{model.id}") for model in logged]
    version_filter = f"run_id = {_quoted(run.id)}" + (
        f" or source IN ({', '.join(sources)})" if sources else ""
    )
    versions, _ = registry_search.search_model_versions(
        session, project, filter_string=version_filter, max_results=200
    )
    return RunData(
        run=run,
        experiment=experiment,
        parent=parent,
        children=children,
        counts=counts,
        charted=charted,
        chart_page=chart_page,
        histories=histories,
        files=_artifacts.list_artifacts(session, project, run.id),
        versions=versions,
        logged_models=logged,
    )


# -- charts -------------------------------------------------------------------------------


def _step_span(points: list[Metric]) -> int:
    return max(p.step for p in points) - min(p.step for p in points) if points else 0


def metric_chart(key: str, points: list[Metric]) -> dict[str, Any]:
    """One metric over steps (or over time, when every step is 0), as a plotly spec.

    Every point is drawn up to ``_charts.MAX_POINTS``; beyond, the history is
    min/max downsampled and the chart's note says so.
    """
    by_time = all(point.step == 0 for point in points)
    xs = [point.timestamp if by_time else point.step for point in points]
    series = _charts.downsampled(key, xs, [point.value for point in points])
    spec = _charts.line_chart([series], key, "time (UTC)" if by_time else "step", "")
    layout = spec["layout"]
    layout["showlegend"] = False
    layout["margin"]["b"] = 48
    if by_time:
        layout["xaxis"]["type"] = "date"
    elif _step_span(points) <= 10:
        layout["xaxis"]["dtick"] = 1
    gaps = sum(1 for point in points if not math.isfinite(point.value))
    if gaps:
        spec["note"] = "; ".join(
            n for n in (spec["note"], f"{gaps:,} NaN or infinite values drawn as gaps") if n
        )
    return spec


# -- the page's pieces ----------------------------------------------------------------------


def _environment(store: ArtifactStore, data: RunData) -> dict[str, Any]:
    """What the run ran on, from its source tags and its ``environment/`` files."""
    tags = data.run.tags
    facts: list[tuple[str, str]] = []
    for label, keys in (
        ("Python", ("kiln.python.version",)),
        ("Source", ("kiln.source.name", "mlflow.source.name")),
        ("Source type", ("kiln.source.type", "mlflow.source.type")),
        ("Git commit", ("kiln.source.git.commit", "mlflow.source.git.commit")),
        ("Git branch", ("kiln.source.git.branch", "mlflow.source.git.branch")),
        ("Git repository", ("mlflow.source.git.repoURL",)),
        ("Uncommitted changes", ("kiln.source.git.dirty",)),
    ):
        value = next((tags[key] for key in keys if tags.get(key)), None)
        if value is not None:
            facts.append((label, {"true": "yes", "false": "no"}.get(value, value)))
    files = {f.path: f for f in data.files if f.path.startswith("environment/")}
    python = files.get("environment/python.json")
    if python is not None and python.size <= ENV_FILE_LIMIT:
        try:
            info = json.loads(store.read_bytes(python.digest))
        except (ValueError, OSError, NotFound):
            info = {}
        for label, key in (
            ("Python", "version"),
            ("Implementation", "implementation"),
            ("Platform", "platform"),
            ("Interpreter", "executable"),
        ):
            if isinstance(info, dict) and info.get(key) and label not in dict(facts):
                facts.append((label, str(info[key])))
    packages: list[tuple[str, str]] = []
    requirements = files.get("environment/requirements.txt")
    if requirements is not None and requirements.size <= ENV_FILE_LIMIT:
        try:
            text = store.read_bytes(requirements.digest).decode("utf-8", "replace")
        except (OSError, NotFound):
            text = ""
        for line in text.splitlines():
            name, _, version = line.strip().partition("==")
            if name and not name.startswith("#"):
                packages.append((name, version))
    system = [m for k, m in sorted(data.run.metrics.items()) if k.startswith("system/")]
    return {
        "facts": facts,
        "packages": packages,
        "files": sorted(files.values(), key=lambda f: f.path),
        "system": system,
    }


def _run_url(run_id: str, **query: str | int) -> str:
    shown = {k: v for k, v in query.items() if v not in ("", None)}
    return f"/runs/{quote(run_id, safe='')}" + (f"?{urlencode(shown)}" if shown else "")


def _lineage_of(data: RunData) -> _lineage.Lineage:
    run = data.run
    graph = _lineage.Lineage()
    graph.add(
        _lineage.LineageNode("run", "run", run.name or run.id[:8], f"run {run.id[:8]}", "#overview")
    )
    for index, dataset in enumerate(run.inputs):
        detail = " · ".join(p for p in (dataset.context, dataset.digest[:8]) if p)
        node = _lineage.LineageNode(
            f"dataset-{index}", "dataset", dataset.name, detail, f"#input-{index}"
        )
        graph.nodes.append(node)
        graph.edges.append((node.id, "run"))
    paths = {f.path for f in data.files}
    sources: dict[str, str] = {}
    for key, flavor in sorted(run.tags.items()):
        if not key.startswith("kiln.model."):
            continue
        path = key.removeprefix("kiln.model.")
        manifest = next(
            (
                f"{path}/{name}"
                for name in ("kiln-model.yaml", "MLmodel")
                if f"{path}/{name}" in paths
            ),
            None,
        )
        url = (
            _run_url(run.id, artifact=manifest) + "#artifact-preview" if manifest else "#artifacts"
        )
        graph.add(_lineage.LineageNode(f"model-{path}", "model", path, flavor, url), after="run")
        sources[f"runs:/{run.id}/{path}"] = f"model-{path}"
    for model in data.logged_models:
        node = _lineage.LineageNode(
            f"logged-{model.id}",
            "model",
            model.name,
            model.model_type or "MLflow logged model",
            f"#logged-{model.id}",
        )
        graph.add(node, after="run")
        sources[f"models:/{model.id}"] = node.id
    for version in data.versions:
        aliases = " ".join(f"@{alias}" for alias in version.aliases)
        node = _lineage.LineageNode(
            f"version-{version.name}-{version.version}",
            "version",
            f"{version.name} v{version.version}",
            aliases or version.flavor or "registered",
            f"/models/{quote(version.name, safe='')}/versions/{version.version}",
        )
        graph.add(node, after=sources.get(version.source.rstrip("/"), "run"))
    return graph


@dataclass(frozen=True, slots=True)
class InputView:
    """A dataset input as the page shows it: the schema as columns when it parses."""

    name: str
    digest: str
    context: str
    source_type: str
    source: str
    profile: str
    schema: str
    columns: list[tuple[str, str]]


def _columns(schema: str) -> list[tuple[str, str]]:
    """``[(name, type)]`` from Kiln's schema (a list) or MLflow's (``mlflow_colspec``)."""
    try:
        data = json.loads(schema) if schema else None
    except ValueError:
        return []
    if isinstance(data, dict):
        data = data.get("mlflow_colspec", data.get("fields"))
    if not isinstance(data, list) or not all(isinstance(c, dict) for c in data):
        return []
    return [(str(c.get("name", "")), str(c.get("type", ""))) for c in data]


def _profile(profile: str) -> str:
    try:
        data = json.loads(profile) if profile else None
    except ValueError:
        return profile
    if isinstance(data, dict) and set(data) == {"rows", "columns"}:
        return f"{num(data['rows'])} rows, {num(data['columns'])} columns"
    if isinstance(data, dict):
        return ", ".join(f"{key}: {value}" for key, value in data.items())
    return profile


def _inputs(run: Run) -> list[InputView]:
    return [
        InputView(
            d.name,
            d.digest,
            d.context,
            d.source_type,
            d.source,
            _profile(d.profile),
            d.schema,
            _columns(d.schema),
        )
        for d in run.inputs
    ]


def _params(run: Run, query: str) -> list[tuple[str, str]]:
    needle = query.strip().lower()
    return [
        (key, value)
        for key, value in sorted(run.params.items(), key=lambda kv: kv[0].lower())
        if not needle or needle in key.lower() or needle in value.lower()
    ]


@router.get("/runs/{run_id}")
def run_page(
    request: Request,
    run_id: str,
    context: ContextDep,
    viewing: Reader,
    q: Annotated[str, Query(max_length=200)] = "",
    chart_page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    artifact: Annotated[str, Query(max_length=1024)] = "",
    as_: artifacts.AsQuery = "",
    part: Part = "",
) -> Response:
    partial = request.headers.get("x-kiln-partial") == "1"
    if artifact:
        validate_artifact_path(artifact)
    data = context.db.read(_load, viewing.project, run_id, chart_page)
    run = data.run
    pages = max(math.ceil(len(data.charted) / CHARTS_PER_PAGE), 1)
    chart_page = data.chart_page
    shown = data.charted[(chart_page - 1) * CHARTS_PER_PAGE : chart_page * CHARTS_PER_PAGE]
    chart_links = {
        key: (
            ""
            if index // CHARTS_PER_PAGE + 1 == chart_page
            else _run_url(run.id, chart_page=index // CHARTS_PER_PAGE + 1)
        )
        + f"#chart-{index}"
        for index, key in enumerate(data.charted)
    }
    page: dict[str, Any] = {
        "run": run,
        "run_id": run.id,
        "run_url": _run_url,
        "params": _params(run, q),
        "query": q,
        "many_params": len(run.params) > MANY_PARAMS,
        "metric_charts": [
            (data.charted.index(key), key, metric_chart(key, data.histories.get(key, [])))
            for key in shown
        ],
        "chart_page": chart_page,
        "chart_pages": pages,
        "chart_links": chart_links,
        "data": data,
        **artifacts.HELPERS,
    }
    if partial and part == "params":
        return render(request, "run_params.html", None, **page)
    if partial and part == "charts":
        return render(request, "run_charts.html", None, **page)
    preview = None
    if artifact:
        from kiln.tracking import _artifacts

        found = context.db.read(_artifacts.get_artifact, viewing.project, run.id, artifact)
        preview = artifacts.build_preview(context.artifacts, found, as_text=as_ == "text")
    user_tags = {k: v for k, v in run.tags.items() if not k.startswith(SYSTEM_TAG_PREFIXES)}
    system_tags = {k: v for k, v in run.tags.items() if k.startswith(SYSTEM_TAG_PREFIXES)}
    lineage = _lineage_of(data)
    return render(
        request,
        "run.html",
        viewing,
        title=f"Run {run.name or run.id[:8]}",
        charts=bool(page["metric_charts"]),
        tree=artifacts.artifact_tree(data.files, TREE_LIMIT),
        tree_limit=TREE_LIMIT,
        open_folders=len(data.files) <= 100,
        preview=preview,
        user_tags=sorted(user_tags.items()),
        system_tags=sorted(system_tags.items()),
        environment=_environment(context.artifacts, data),
        inputs=_inputs(run),
        lineage=lineage,
        lineage_svg=_lineage.draw(lineage, f"Lineage of run {run.name or run.id}"),
        latest=sorted(run.metrics.values(), key=lambda m: (m.key.startswith("system/"), m.key)),
        **page,
    )
