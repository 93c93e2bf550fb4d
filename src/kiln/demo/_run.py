"""The demo's stages, in lifecycle order. Each capability appends its own stage."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape

from kiln import auth
from kiln.context import Context
from kiln.demo import DEMO_PROJECT
from kiln.demo._features import stage_features
from kiln.demo._labeling import stage_labeling
from kiln.demo._mlflow import stage_mlflow
from kiln.demo._monitoring import stage_monitoring
from kiln.demo._serving import stage_serving
from kiln.demo._tuning import stage_tuning
from kiln.demo._ui import stage_ui
from kiln.demo.data import DemoData, generate

DEMO_USER = "demo-analyst"


@dataclass
class DemoState:
    """What the stages hand on to each other."""

    context: Context
    console: Console
    seed: int
    n_transactions: int
    reference: DemoData | None = None
    current: DemoData | None = None
    blobs: dict[str, str] = field(default_factory=dict)
    token_secret: str = ""
    candidates: list[Any] = field(default_factory=list)
    #: What the pipeline's register step returned: candidates best first, with versions.
    registered: list[dict[str, Any]] = field(default_factory=list)
    #: The dataset version of the reference window (``demo-transactions@1``).
    reference_ref: str = ""
    #: The pipeline run on the reference window, and the one paused at the gate.
    pipeline_run: str = ""
    paused_run: str = ""
    look_here: list[str] = field(default_factory=list)

    def tables(self, window: str) -> dict[str, str]:
        """Table name → content digest of one window's stored Parquet tables."""
        prefix = f"{window}/"
        return {
            key.removeprefix(prefix): digest
            for key, digest in self.blobs.items()
            if key.startswith(prefix)
        }


Stage = Callable[[DemoState], str]


def stage_store(state: DemoState) -> str:
    settings = state.context.settings.masked()
    db = state.context.db
    db.engine  # noqa: B018  (opens, and migrates an empty store)
    revision, _ = db.revision()
    return (
        f"metadata store {settings['database_url']} (schema {revision}), "
        f"artifacts in {settings['artifact_root']}"
    )


def stage_project(state: DemoState) -> str:
    db = state.context.db
    db.run(
        auth.ensure_project,
        DEMO_PROJECT,
        "Card-fraud demo: every stage of the Kiln lifecycle on one problem.",
    )
    if DEMO_USER not in {user.name for user in db.read(auth.list_users)}:
        db.run(auth.create_user, DEMO_USER, email="analyst@example.com")
    db.run(auth.set_member, DEMO_PROJECT, DEMO_USER, auth.Role.EDITOR)
    for old in db.read(auth.list_tokens, user=DEMO_USER, project=DEMO_PROJECT):
        db.run(auth.revoke_token, old.id)
    from datetime import timedelta

    from kiln.db import utcnow

    new = db.run(
        auth.create_token,
        DEMO_USER,
        DEMO_PROJECT,
        name="kiln demo",
        expires_at=utcnow() + timedelta(days=1),
    )
    token, state.token_secret = new.token, new.secret
    state.look_here.append(f"members of the demo project: kiln projects members {DEMO_PROJECT}")
    return (
        f"project {DEMO_PROJECT!r}; user {DEMO_USER!r} is editor there with token {token.id} "
        "(expires in 1 day; earlier demo tokens revoked)"
    )


def stage_data(state: DemoState) -> str:
    reference = generate(seed=state.seed, n_transactions=state.n_transactions)
    current = generate(
        seed=state.seed + 1,
        n_transactions=state.n_transactions // 5,
        start=reference.config.window_end.to_pydatetime(),
        days=14,
        drift=True,
        faults=0.01,
    )
    state.reference, state.current = reference, current
    folder = state.context.settings.home / "demo" / "data"
    for window, data in (("reference", reference), ("current", current)):
        for name, path in data.save_parquet(folder / window).items():
            state.blobs[f"{window}/{name}"] = state.context.artifacts.put_file(path).digest
    tx = reference.transactions
    cur = current.transactions
    state.look_here.append(f"demo data as Parquet: {folder}")
    injected = sum(current.faults.values())
    return (
        f"{len(tx):,} reference transactions ({tx['is_fraud'].mean():.2%} fraud) for "
        f"{len(reference.customers):,} customers and {len(reference.merchants):,} merchants; "
        f"{len(cur):,} drifted current transactions with {injected} injected faults; "
        f"{len(state.blobs)} tables stored as content-addressed Parquet blobs"
    )


def stage_server(state: DemoState) -> str:
    """Serve the store with auth on, and show tokens, roles and the audit log at work."""
    from kiln.client import ApiClient
    from kiln.db import utcnow
    from kiln.errors import PermissionDenied, Unauthenticated
    from kiln.server import create_app
    from kiln.server.background import BackgroundServer

    secured = Context(state.context.settings.model_copy(update={"auth": True}))
    started = utcnow()
    outcomes: list[str] = []
    with BackgroundServer(create_app(secured)) as url:
        analyst = ApiClient(url, token=state.token_secret, project=DEMO_PROJECT)
        anonymous = ApiClient(url, project=DEMO_PROJECT)
        me = analyst.request("GET", "/users/me")
        outcomes.append(f"{me['user']} is {me['role']} in {me['project']!r}")
        try:
            anonymous.request("GET", "/projects")
        except Unauthenticated:
            outcomes.append("no token → 401")
        viewer = analyst.request("POST", "/tokens", json_body={"role": "viewer", "name": "ro"})
        read_only = ApiClient(url, token=viewer["secret"], project=DEMO_PROJECT)
        try:
            read_only.request("PATCH", f"/projects/{DEMO_PROJECT}", json_body={"description": "x"})
        except PermissionDenied:
            outcomes.append("viewer's write → 403")
        analyst.request("DELETE", f"/tokens/{viewer['token']['id']}")
        try:
            read_only.request("GET", "/users/me")
        except Unauthenticated:
            outcomes.append("revoked token → 401")
        for client in (analyst, anonymous, read_only):
            client.close()
    audited = secured.db.read(auth.list_entries, project=DEMO_PROJECT, since=started, limit=1000)
    secured.close()
    state.look_here.append(f"audit log of API calls: kiln audit --project {DEMO_PROJECT}")
    return (
        f"served with auth on at {url}: "
        + "; ".join(outcomes)
        + f"; {len(audited)} mutating calls in the audit log of {DEMO_PROJECT!r}"
    )


@contextmanager
def quiet_steps() -> Iterator[None]:
    """Keep what steps print out of the demo's one line per stage (their records keep it)."""
    with redirect_stdout(io.StringIO()):
        yield


def stage_pipeline(state: DemoState) -> str:
    """Run the training pipeline on the reference window, then again: all from cache."""
    import kiln
    from kiln.demo._pipeline import fraud_training
    from kiln.demo._training import Candidate
    from kiln.pipelines import load_output

    kiln.configure(state.context.settings.model_copy(update={"project": DEMO_PROJECT}))
    params = {"tables": state.tables("reference"), "seed": state.seed}
    with quiet_steps():
        first = fraud_training.run(params)
        again = fraud_training.run(params)
    state.pipeline_run = first.id
    state.reference_ref = load_output(first.id, "ingest")
    state.registered = load_output(first.id, "register")
    state.candidates = [
        Candidate(
            c["name"],
            c["run_id"],
            c["model_uri"],
            c["auc"],
            c["average_precision"],
            c["fit_seconds"],
        )
        for c in state.registered
    ]
    cached = sum(step.cached for step in again.steps)
    best = state.candidates[0]
    scores = ", ".join(f"{c.name} AUC {c.auc:.3f}" for c in state.candidates)
    state.look_here += [
        f"the pipeline run, step by step: kiln --project {DEMO_PROJECT} pipelines show {first.id}",
        f"runs: kiln --project {DEMO_PROJECT} runs list -e fraud -o 'metrics.auc DESC' "
        "-c metrics.auc -c metrics.average_precision",
        f"lineage of the champion: kiln --project {DEMO_PROJECT} lineage "
        f"models:/{DEMO_MODEL}/{state.registered[0]['version']} --upstream",
    ]
    return (
        f"run {first.id[:8]} {first.status.value.lower()}: {len(first.steps)} steps in "
        f"{first.duration_seconds or 0:.1f}s into {state.reference_ref} ({scores}); best "
        f"{best.name} registered as {DEMO_MODEL} v{state.registered[0]['version']}; "
        f"the re-run took {again.duration_seconds or 0:.2f}s with "
        f"{cached} of {len(again.steps)} steps cached"
    )


def stage_gate(state: DemoState) -> str:
    """Run the pipeline on the drifted, faulty window: its gate pauses it with a report."""
    from kiln.alerts import list_alerts
    from kiln.auth import project_id
    from kiln.demo._pipeline import fraud_training
    from kiln.lineage import Node, stale_flags

    params = {
        "tables": state.tables("current"),
        "reference": state.reference_ref,
        "seed": state.seed,
    }
    with quiet_steps():
        run = fraud_training.run(params, raise_on_failure=False)
    db = state.context.db
    state.paused_run = run.id
    if run.status.value != "PAUSED":
        return (
            f"run {run.id[:8]} on the drifted window ended {run.status.value}: the gate let it by"
        )
    alert = db.read(
        list_alerts, DEMO_PROJECT, subject_kind="step_run", subject_id=f"{run.id}/check", limit=1
    )[0]
    report = state.context.settings.home / "demo" / "reports" / f"gate-{run.id[:8]}.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    if alert.report_digest:
        state.context.artifacts.copy_to(alert.report_digest, report)
    failed = alert.details.get("failures", [])
    named = sorted(
        {f"{c['name']}[{c['column']}]" if c.get("column") else c["name"] for c in failed}
    )
    pid = db.read(project_id, DEMO_PROJECT)
    stale = [
        entry["version"]
        for entry in state.registered
        if entry["version"] is not None
        and db.read(stale_flags, pid, Node.model_version(DEMO_MODEL, entry["version"]))
    ]
    state.look_here += [
        f"why the drifted run paused (open in a browser): {report}",
        f"resume it anyway: kiln --project {DEMO_PROJECT} pipelines resume {run.id} --accept",
        f"open alerts: kiln --project {DEMO_PROJECT} alerts list",
    ]
    flagged = (
        f"; {DEMO_MODEL} " + ", ".join(f"v{v}" for v in stale) + " flagged stale" if stale else ""
    )
    return (
        f"run {run.id[:8]} on the drifted window PAUSED at its gate (alert {alert.id}): "
        f"{len(failed)} failed checks — {', '.join(named[:6])}"
        + (" …" if len(named) > 6 else "")
        + f"; report {report}{flagged}"
    )


DEMO_MODEL = "fraud-detector"
CHAMPION_GATE: list[dict[str, Any]] = [
    {"name": "auc-floor", "type": "metric_threshold", "metric": "auc", "op": ">=", "value": 0.8},
    {"name": "beats-champion", "type": "beats_current", "metric": "auc", "direction": "max"},
]


def stage_registry(state: DemoState) -> str:
    """Register the two best models; the best becomes champion through a gate."""
    from kiln import registry
    from kiln.demo._training import FEATURES, feature_frame
    from kiln.errors import Conflict

    best, runner_up = state.candidates[0], state.candidates[1]
    champion = registry.get_model_version(DEMO_MODEL, state.registered[0]["version"])
    challenger = registry.get_model_version(DEMO_MODEL, state.registered[1]["version"])
    registry.set_gate(DEMO_MODEL, "champion", CHAMPION_GATE)
    registry.set_alias(DEMO_MODEL, "challenger", challenger.version, note="kiln demo")
    try:
        event = registry.set_alias(DEMO_MODEL, "champion", champion.version, note="kiln demo")
    except Conflict as refused:  # the gate said no: show it, keep the old champion
        return f"{DEMO_MODEL} v{champion.version} ({best.name}) was refused by the gate: {refused}"
    checks = ", ".join(
        f"{r.name} {'passed' if r.passed else 'failed'}"
        + (f" ({r.observed:.3f})" if r.observed is not None else "")
        for r in event.results
    )
    model = registry.load_model(f"models:/{DEMO_MODEL}@champion")
    assert state.current is not None
    current = feature_frame(state.current).dropna()
    flagged = float((model.predict(current[FEATURES]) == 1).mean())
    state.look_here.append(
        f"model versions and aliases: kiln --project {DEMO_PROJECT} models versions {DEMO_MODEL}; "
        f"alias history: kiln --project {DEMO_PROJECT} models alias history {DEMO_MODEL} champion"
    )
    return (
        f"{DEMO_MODEL} v{champion.version} ({best.name}) is champion through its gate ({checks}), "
        f"v{challenger.version} ({runner_up.name}) is challenger; loaded back from "
        f"models:/{DEMO_MODEL}@champion, it flags {flagged:.1%} of the drifted window"
    )


STAGES: list[tuple[str, Stage]] = [
    ("Stores", stage_store),
    ("Project and access", stage_project),
    ("Demo data", stage_data),
    ("Feature store: definitions → point-in-time training set → online", stage_features),
    ("Pipeline: ingest → check → features → train → evaluate → register", stage_pipeline),
    ("Quality gate on drifted data", stage_gate),
    ("Model registry", stage_registry),
    ("Serving: canary, shadow, prediction log", stage_serving),
    ("Monitoring: drift → alert → retrain → gated promotion", stage_monitoring),
    ("Tuning: 20 trials, 2 in parallel → the best through the gate", stage_tuning),
    ("Labeling: active learning against random, then the loop on digits", stage_labeling),
    ("MLflow compatibility", stage_mlflow),
    ("Web UI", stage_ui),
    ("Server, tokens and audit", stage_server),
]


def run(
    context: Context,
    *,
    seed: int = 7,
    n_transactions: int = 50_000,
    console: Console | None = None,
) -> DemoState:
    """Run every stage, printing one line each, then where to look."""
    console = console or Console()
    state = DemoState(context, console, seed, n_transactions)
    console.rule("[bold]Kiln demo")
    started = time.perf_counter()
    for number, (title, stage) in enumerate(STAGES, start=1):
        t0 = time.perf_counter()
        with console.status(f"{number}. {title}…"):
            summary = stage(state)
        console.print(
            f"[green]✓[/] [bold]{number}. {title}[/] ({time.perf_counter() - t0:.1f}s): "
            + escape(summary),
            highlight=False,
        )
    console.rule(f"done in {time.perf_counter() - started:.1f}s")
    console.print("[bold]Where to look[/]")
    url = f"http://{context.settings.host}:{context.settings.port}"
    for line in [
        *state.look_here,
        f"REST API docs: run `kiln server`, then open {url}/docs",
    ]:
        console.print(f"  • {escape(line)}", highlight=False)
    return state


__all__ = ["STAGES", "DemoState", "run"]
