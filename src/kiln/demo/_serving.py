"""The demo's serving stage: the champion behind a deployment, a canary, a shadow, the log.

The deployment ``fraud`` sends 90 % of requests to ``fraud-detector@champion``
and 10 % to the challenger's version as a canary, sticky by customer, and
copies every request to a shadow. The registry holds only the two versions
the pipeline registered, and a policy names each model once, so the shadow
is the pipeline's third candidate, by its run URI: a shadow answers no
caller, which is where a model nobody has vetted may meet live traffic.

The stage serves the deployment in-process over real HTTP, sends it rows of
the drifted window from several threads, stops the server (the prediction
log flushes at shutdown) and reads the log back: requests per arm, the
shadow's answers and how often it agreed with the arm that answered. The
demo knows every payment's outcome, so it then posts those as labels and
exports the labeled inputs as a dataset version: the retraining loop.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiln.demo import DEMO_PROJECT

if TYPE_CHECKING:
    import httpx
    import pandas as pd
    import pyarrow as pa

    from kiln.context import Context
    from kiln.demo._run import DemoState
    from kiln.serving._deployments import Deployment
    from kiln.serving._predictions_export import PredictionExport

DEPLOYMENT = "fraud"
CANARY_WEIGHT = 10
STICKY_KEY = "customer_id"
REQUESTS = 300
CONCURRENCY = 8


@dataclass(frozen=True)
class Answer:
    """What the caller saw of one request."""

    request_id: str
    arm: str
    version: str
    seconds: float


@dataclass(frozen=True)
class Traffic:
    """A burst of requests: the answers, how long it took, what ``/metrics`` counted."""

    answers: list[Answer]
    seconds: float
    counted: int


def demo_policy(state: DemoState) -> dict[str, Any]:
    """Champion 90 / challenger's version 10, sticky by customer; the unregistered third shadows.

    The canary names the challenger's version by number, so a canary is
    exactly the version under test; the champion arm names the alias, so a
    promotion reaches the running server without a new revision.
    """
    from kiln.demo._run import DEMO_MODEL

    canary = state.registered[1]  # the registry stage made it challenger
    shadow = next(c for c in state.registered if c["version"] is None)
    return {
        "arms": [
            {"name": f"{DEMO_MODEL}@champion", "weight": 100 - CANARY_WEIGHT},
            {"name": f"{DEMO_MODEL}/{canary['version']}", "weight": CANARY_WEIGHT},
        ],
        "sticky_key": STICKY_KEY,
        "salt": "kiln-demo",
        "shadows": [shadow["model_uri"]],
    }


def deploy(context: Context, policy: dict[str, Any], *, user: str = "") -> tuple[Deployment, str]:
    """Create the deployment, or give it ``policy`` when it differs: a re-run adds no revision."""
    from kiln.errors import NotFound
    from kiln.serving import TrafficPolicy
    from kiln.serving._deployments import create_deployment, get_deployment, set_traffic

    db = context.db
    try:
        current = db.read(get_deployment, DEMO_PROJECT, DEPLOYMENT)
    except NotFound:
        created = db.run(
            create_deployment,
            DEMO_PROJECT,
            DEPLOYMENT,
            policy,
            description="Card-fraud scoring (kiln demo).",
            user=user,
        )
        return created, "created"
    if current.policy == TrafficPolicy.from_dict(policy):
        return current, "unchanged"
    updated = db.run(
        set_traffic, DEMO_PROJECT, DEPLOYMENT, policy, note="kiln demo's traffic", user=user
    )
    return updated, "traffic set"


def live_rows(state: DemoState, n: int) -> pd.DataFrame:
    """``n`` payments of the drifted window with the model's features and their customer.

    ``features_of`` sorts by time, stably, so a join sorted the same way
    lines up with it row for row and lends it the customer id.
    """
    from kiln.demo._training import features_of, join_tables

    assert state.current is not None, "the data stage runs first"
    data = state.current
    joined = join_tables(data.transactions, data.customers, data.merchants)
    joined = joined.sort_values("event_timestamp", kind="stable").reset_index(drop=True)
    frame = features_of(joined).assign(**{STICKY_KEY: joined[STICKY_KEY]}).dropna()
    return frame.sample(n=min(n, len(frame)), random_state=state.seed).sort_index()


def send_traffic(context: Context, rows: pd.DataFrame) -> Traffic:
    """Serve the deployment over HTTP and send each row as one request, ``CONCURRENCY`` at once.

    The server stops before this returns, which flushes the prediction log.
    """
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from kiln.demo._training import FEATURES
    from kiln.server.background import BackgroundServer
    from kiln.serving import create_app

    records = rows[FEATURES].to_dict("records")
    keys = [str(key) for key in rows[STICKY_KEY]]
    app = create_app(deployments=[DEPLOYMENT], context=context, poll_seconds=1.0)
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        arms = _await_arms(client)

        def ask(i: int) -> Answer:
            started = time.perf_counter()
            response = client.post(
                f"/v1/deployments/{DEPLOYMENT}/predict",
                json={"records": [records[i]]},
                headers={"x-kiln-key": keys[i]},
            )
            response.raise_for_status()
            body = response.json()
            seconds = time.perf_counter() - started
            return Answer(body["request_id"], body["arm"], body["version"], seconds)

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            answers = list(pool.map(ask, range(len(records))))
        seconds = time.perf_counter() - started
        shadows = [arm["model"] for arm in arms if arm["shadow"]]
        metrics = _await_shadows(client, shadows, len(records))
    return Traffic(answers, seconds, _counted(metrics, "kiln_requests_total", 'route="deployment"'))


def _await_arms(client: httpx.Client, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Wait for readiness; the deployment's arms, every one of them loaded.

    Readiness alone is not enough: a server whose arms failed to load is
    ready too, and refuses every request.
    """
    from kiln.errors import KilnError

    deadline = time.monotonic() + timeout
    while (ready := client.get("/v2/health/ready")).status_code != 200:
        if "error" in ready.json() or time.monotonic() > deadline:
            raise KilnError(f"deployment {DEPLOYMENT!r} did not load: {ready.text}")
        time.sleep(0.05)
    arms: list[dict[str, Any]] = client.get(f"/v1/deployments/{DEPLOYMENT}").json()["arms"]
    if down := {arm["arm"]: arm["error"] for arm in arms if not arm["serving"]}:
        raise KilnError(f"deployment {DEPLOYMENT!r} is up without some of its arms: {down}")
    return arms


def _await_shadows(
    client: httpx.Client, shadows: list[str], rows: int, timeout: float = 10.0
) -> str:
    """Wait until each shadow model has scored ``rows`` rows; the last ``/metrics`` text.

    A shadow answers after its caller has had the primary's answer, and a
    server that stops does not wait for shadows still running (their
    answers would miss the log), so the stage waits for the shadow model's
    rows in the batch-size histogram first.
    """
    deadline = time.monotonic() + timeout
    while True:
        metrics = client.get("/metrics").text
        done = all(
            _counted(metrics, "kiln_batch_size_rows_sum", f'model="{name}"') >= rows
            for name in shadows
        )
        if done or time.monotonic() > deadline:
            return metrics
        time.sleep(0.02)


def _counted(metrics: str, sample: str, label: str) -> int:
    """The sum of a Prometheus ``sample`` over the series carrying ``label``."""
    return round(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith(sample + "{") and label in line
        )
    )


@dataclass(frozen=True)
class Logged:
    """The prediction log of one burst of traffic, summarized."""

    #: Requests the arms answered, by registered version.
    primary: Counter[int | None]
    #: Copies the shadow answered.
    shadowed: int
    #: Requests answered by both an arm and the shadow, and how many of those agreed.
    compared: int
    agreed: int
    #: Payments flagged as fraud, by route.
    flagged: Counter[str]


def summarize_log(table: pa.Table) -> Logged:
    """Requests per version and route, and whether arm and shadow agreed on each request."""
    primary: Counter[int | None] = Counter()
    flagged: Counter[str] = Counter()
    outputs: dict[str, dict[str, str]] = {"primary": {}, "shadow": {}}
    for row in table.select(["request_id", "version", "route", "outputs"]).to_pylist():
        if row["route"] == "primary":
            primary[row["version"]] += 1
        outputs.setdefault(row["route"], {})[row["request_id"]] = row["outputs"]
        flagged[row["route"]] += sum(json.loads(row["outputs"])["predictions"])
    both = outputs["primary"].keys() & outputs["shadow"].keys()
    agreed = sum(outputs["primary"][rid] == outputs["shadow"][rid] for rid in both)
    return Logged(primary, len(outputs["shadow"]), len(both), agreed, flagged)


def label_and_export(
    context: Context, traffic: Traffic, labels: pd.Series, since: datetime
) -> PredictionExport:
    """Post each request's true outcome as its label, then export the labeled inputs.

    A real deployment learns outcomes weeks later (chargebacks); the demo
    knows them at once.
    """
    from kiln.demo._run import DEMO_USER
    from kiln.serving._predictions_export import export_dataset
    from kiln.serving._predictions_labels import post_labels

    posted = {
        answer.request_id: int(label) for answer, label in zip(traffic.answers, labels, strict=True)
    }
    context.db.run(post_labels, DEMO_PROJECT, DEPLOYMENT, posted)
    return export_dataset(
        context,
        DEMO_PROJECT,
        DEPLOYMENT,
        since=since,
        label_column=str(labels.name),
        created_by=DEMO_USER,
    )


def stage_serving(state: DemoState) -> str:
    """Deploy, serve and send traffic; read the log back, label it and export it."""
    import kiln
    from kiln.demo._run import DEMO_MODEL, DEMO_USER
    from kiln.demo._training import LABEL
    from kiln.serving._predictions_index import read_predictions

    context = state.context
    deployment, change = deploy(context, demo_policy(state), user=DEMO_USER)
    rows = live_rows(state, REQUESTS)
    since = datetime.now(UTC)
    # The server loads its arms through the registry of the current context, whatever
    # context it is given: make the demo's project current, as the feature stage does.
    serving = kiln.configure(context.settings.model_copy(update={"project": DEMO_PROJECT}))
    traffic = send_traffic(serving, rows)
    logged = summarize_log(read_predictions(context, DEMO_PROJECT, DEPLOYMENT, since=since))
    exported = label_and_export(context, traffic, rows[LABEL], since)

    version_of = {answer.arm: answer.version for answer in traffic.answers}
    champion, canary = (version_of.get(arm.name, "?") for arm in deployment.policy.arms)
    answered = {str(version): n for version, n in logged.primary.items()}
    p50 = statistics.median(answer.seconds for answer in traffic.answers) * 1000
    shadow = next(c["name"] for c in state.registered if c["version"] is None)
    agreement = logged.agreed / logged.compared if logged.compared else 0.0
    state.look_here += [
        f"the deployment and its revisions: kiln --project {DEMO_PROJECT} deployments show "
        f"{DEPLOYMENT}",
        f"serve it yourself: kiln --project {DEMO_PROJECT} serve --deployment {DEPLOYMENT}, "
        f"then POST to http://127.0.0.1:8080/v1/deployments/{DEPLOYMENT}/predict",
        f"export the labeled requests again: kiln --project {DEMO_PROJECT} deployments export "
        f"{DEPLOYMENT} --since {since.isoformat()} --label-column {LABEL}",
    ]
    return (
        f"deployment {DEPLOYMENT} r{deployment.revision} ({change}), sticky by {STICKY_KEY}: "
        f"{len(traffic.answers)} requests over HTTP in {traffic.seconds:.1f}s ({CONCURRENCY} "
        f"in-process callers, p50 {p50:.1f} ms; {traffic.counted} in /metrics); logged: "
        f"{answered.get(champion, 0)} answered by {DEMO_MODEL} v{champion} (champion, "
        f"{100 - CANARY_WEIGHT}%), {answered.get(canary, 0)} by v{canary} (challenger, canary "
        f"{CANARY_WEIGHT}%), and {shadow}, never registered, shadowed {logged.shadowed} and "
        f"agreed on {agreement:.1%} (it flagged {logged.flagged['shadow']} payments, the arms "
        f"{logged.flagged['primary']}; {int(rows[LABEL].sum())} were fraud); labels posted, "
        f"{exported.version.uri} exported ({exported.rows} rows)"
    )
