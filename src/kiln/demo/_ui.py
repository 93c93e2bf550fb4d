"""The demo's web UI stage: every page of the demo project renders, and where to open them."""

from __future__ import annotations

import urllib.request
from typing import TYPE_CHECKING

from kiln.demo import DEMO_PROJECT

if TYPE_CHECKING:
    from kiln.demo._run import DemoState


def _server_ms(url: str) -> float:
    """Fetch a page (it must answer 200) and return its server time from ``Server-Timing``."""
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        timing = response.headers.get("Server-Timing", "app;dur=0")
    return float(timing.partition("dur=")[2] or 0)


def stage_ui(state: DemoState) -> str:
    """Render the UI's pages over the demo project through a real server."""
    from kiln.context import Context
    from kiln.server import create_app
    from kiln.server.background import BackgroundServer
    from kiln.tracking import _experiments

    settings = state.context.settings.model_copy(update={"project": DEMO_PROJECT})
    served = Context(settings)
    experiment = served.db.read(_experiments.get_experiment_by_name, DEMO_PROJECT, "fraud")
    runs = ",".join(candidate.run_id for candidate in state.candidates)
    pages = {
        "home": "/",
        "runs table": f"/experiments/{experiment.id}?order=metrics.auc+DESC",
        "compare": f"/compare?runs={runs}",
        "best run": f"/runs/{state.candidates[0].run_id}",
        "model": "/models/fraud-detector",
        "search": "/search?q=fraud",
        "pipeline run": f"/pipelines/runs/{state.pipeline_run}",
        "paused run": f"/pipelines/runs/{state.paused_run}",
        "dataset": "/datasets/demo-transactions",
        "lineage": f"/lineage?node=models:/fraud-detector/{state.registered[0]['version']}",
        "features": "/features",
        "feature view": "/features/views/customer_activity",
    }
    with BackgroundServer(create_app(served)) as url:
        _server_ms(url + "/")  # first render compiles the templates
        timings = {name: _server_ms(url + path) for name, path in pages.items()}
    served.close()
    base = f"http://{settings.host}:{settings.port}"
    state.look_here.append(
        f"web UI: run `kiln server`, then open {base}/ — compare the fraud runs at "
        f"{base}{pages['compare']}, the champion at {base}/models/fraud-detector, the paused "
        f"pipeline run (and its resume button) at {base}{pages['paused run']}, the champion's "
        f"lineage at {base}{pages['lineage']}"
    )
    slowest = max(timings, key=lambda name: timings[name])
    return (
        f"{len(pages)} pages rendered over the demo project ({', '.join(pages)}); "
        f"slowest: {slowest} in {timings[slowest]:.0f} ms of server time"
    )
