"""The end-to-end demo runs on a fresh embedded store, twice, and says where to look."""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console

from kiln import auth
from kiln.context import Context
from kiln.demo import DEMO_PROJECT
from kiln.demo._run import DEMO_USER, run


def test_demo_runs_twice_and_reports_each_stage(make_context: Callable[..., Context]) -> None:
    context = make_context()
    for _ in range(2):  # re-running is harmless
        out = io.StringIO()
        state = run(context, n_transactions=5_000, console=Console(file=out, width=200))
        text = out.getvalue()
        for number, stage in enumerate(
            (
                "Stores",
                "Project and access",
                "Demo data",
                "Pipeline: ingest → check → features → train → evaluate → register",
                "Quality gate on drifted data",
                "Model registry",
                "MLflow compatibility",
                "Web UI",
                "Server",
            ),
            start=1,
        ):
            assert f"✓ {number}. {stage}" in text
        assert "with 10 of 10 steps cached" in text
        assert "on the drifted window PAUSED at its gate" in text
        assert "categories[channel]" in text  # the summary names the failed checks
        assert "flagged stale" in text
        assert "no token → 401" in text
        assert "viewer's write → 403" in text
        assert "revoked token → 401" in text
        assert "Where to look" in text
        assert str(context.settings.home / "demo" / "data") in text
    assert state.reference is not None
    assert len(state.reference.transactions) == 5_000
    assert len(state.blobs) == 6
    assert [c.name for c in state.candidates] != []
    assert all(c.auc > 0.6 for c in state.candidates)  # 5,000 rows: a small sample
    assert "is champion through its gate (auc-floor passed" in text
    assert "Kiln's SDK loads it (100%" in text
    assert "10 pages rendered over the demo project" in text
    import kiln
    from kiln import registry

    kiln.configure(context.settings.model_copy(update={"project": DEMO_PROJECT}))
    champion = registry.get_model_version_by_alias("fraud-detector", "champion")
    assert champion.version >= 1
    history = registry.alias_history("fraud-detector", "champion")
    assert all(result.passed for event in history for result in event.results)
    assert all(context.artifacts.exists(digest) for digest in state.blobs.values())
    from kiln.pipelines import list_pipeline_runs

    runs = context.db.read(list_pipeline_runs, DEMO_PROJECT, limit=100)
    assert [r.status.value for r in runs].count("PAUSED") == 2  # one drifted run per demo
    assert all(r.pipeline == "fraud_training" for r in runs)
    reports = sorted((context.settings.home / "demo" / "reports").glob("gate-*.html"))
    assert len(reports) == 2
    page = reports[-1].read_text()
    assert "moto" in page  # the evidence, readable
    assert "transaction_id" in page
    db = context.db
    assert db.read(auth.member_role, DEMO_PROJECT, DEMO_USER) is auth.Role.EDITOR
    live = db.read(auth.list_tokens, user=DEMO_USER)
    assert len(live) == 1  # the earlier run's token was revoked
    actions = {e.action for e in db.read(auth.list_entries, project=DEMO_PROJECT, limit=1000)}
    assert {"create_token", "update_project", "revoke_token"} <= actions
