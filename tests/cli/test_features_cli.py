"""``kiln features apply`` and ``list`` through the real console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.features.test_loading import DEFINITIONS

KILN = shutil.which("kiln", path=os.path.dirname(sys.executable))


def kiln(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert KILN is not None, "the kiln console script is not installed next to python"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env.update(KILN_HOME=str(home), COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [KILN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_apply_prints_the_diff_and_list_shows_the_latest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "defs.py").write_text(DEFINITIONS)

    first = kiln(home, "features", "apply", "defs.py", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "+ feature_view customer_stats (v1) added" in first.stdout
    assert "5 added, 0 changed, 0 removed, 0 unchanged" in first.stdout

    (tmp_path / "defs.py").write_text(DEFINITIONS.replace("hours=36", "hours=12"))
    second = kiln(home, "features", "apply", "defs.py", "--json", cwd=tmp_path)
    assert json.loads(second.stdout)["changed"] == [
        {"kind": "feature_view", "name": "customer_stats", "version": 2}
    ]
    listed = json.loads(kiln(home, "features", "list", "--json", cwd=tmp_path).stdout)
    assert [(row["kind"], row["name"]) for row in listed] == [
        ("entity", "customer"),
        ("entity", "merchant"),
        ("feature_view", "customer_stats"),
        ("feature_view", "recent"),
        ("feature_service", "fraud"),
    ]


def test_bad_paths_and_definitions_exit_with_their_codes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = kiln(home, "features", "apply", "nope.py", cwd=tmp_path)
    assert missing.returncode == 3
    assert "does not exist" in missing.stderr
    (tmp_path / "bad.py").write_text(DEFINITIONS.replace('"float64")', '"decimal")', 1))
    bad = kiln(home, "features", "apply", "bad.py", cwd=tmp_path)
    assert bad.returncode == 6
    assert "unknown type 'decimal'" in bad.stderr
    assert "Traceback" not in bad.stderr


CATALOG = """
from datetime import timedelta

import pandas as pd

from kiln.features import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    OnDemandFeatureView,
    ParquetSource,
    RequestSource,
)

customer = Entity("customer", {"customer_id": "int64"}, owner="risk")
stats = FeatureView(
    "customer_stats",
    [customer],
    ParquetSource("stats.parquet"),
    [Field("spend", "float64", "7-day spend"), Field("segment", "string")],
    ttl=timedelta(days=3650),
    owner="risk-team",
    tags={"team": "risk"},
    description="Spend per customer",
)
fraud = FeatureService("fraud", [stats])


def spend_ratio(frame):
    return pd.DataFrame({"ratio": frame["amount"] / frame["spend"]})


ratio = OnDemandFeatureView(
    "spend_ratio",
    [stats, RequestSource("payment", [Field("amount", "float64")])],
    [Field("ratio", "float64")],
    spend_ratio,
)
"""


def _catalog_home(tmp_path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 1, 2], pa.int64()),
                "event_timestamp": pa.array(
                    [
                        datetime(2026, 1, 1, tzinfo=UTC),
                        datetime(2026, 1, 2, tzinfo=UTC),
                        datetime(2026, 1, 1, 6, tzinfo=UTC),
                    ],
                    pa.timestamp("us", tz="UTC"),
                ),
                "spend": [1.0, 2.5, 4.0],
                "segment": ["a", "b", None],
            }
        ),
        tmp_path / "stats.parquet",
    )
    (tmp_path / "defs.py").write_text(CATALOG)
    home = tmp_path / "home"
    assert kiln(home, "features", "apply", "defs.py", cwd=tmp_path).returncode == 0
    return home


def test_materialize_then_describe_list_and_read_online(tmp_path: Path) -> None:
    home = _catalog_home(tmp_path)
    done = kiln(
        home,
        "features",
        "materialize",
        "--end",
        "2026-01-03T00:00:00+00:00",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)
    assert (result["view"], result["keys_written"], result["rows_read"]) == (
        "customer_stats",
        2,
        3,
    )
    assert result["newest_event"] == "2026-01-02T00:00:00+00:00"
    again = kiln(home, "features", "materialize", "--incremental", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "customer_stats" in again.stdout  # from the watermark up to now

    listed = kiln(home, "features", "list", "--search", "owner:risk-team", "--json", cwd=tmp_path)
    (entry,) = json.loads(listed.stdout)
    assert entry["name"] == "customer_stats"
    assert entry["newest_event"] == "2026-01-02T00:00:00+00:00"
    table = kiln(home, "features", "list", "--search", "segment", cwd=tmp_path).stdout
    assert "customer_stats" in table
    assert "fraud" in table  # a service with the feature
    assert "customer " not in table  # the entity has no feature of that name
    nothing = kiln(home, "features", "list", "-s", "no-such-word", cwd=tmp_path)
    assert "No definition matches 'no-such-word'" in nothing.stdout

    described = kiln(home, "features", "describe", "customer_stats", cwd=tmp_path)
    assert described.returncode == 0, described.stderr
    for words in (
        "feature view customer_stats v1",
        "Spend per customer",
        "Schema",
        "7-day spend",
        "Statistics",
        "Versions",
        "Materializations",
        "COMPLETED",
        "in services: fraud",
    ):
        assert words in described.stdout, words
    on_demand = kiln(home, "features", "describe", "spend_ratio", cwd=tmp_path)
    assert on_demand.returncode == 0, on_demand.stderr
    for words in (
        "on demand view spend_ratio v1",
        "Computed features",
        "reads views: customer_stats",
        "request fields: amount:float64",
        "transformation: spend_ratio in",
    ):
        assert words in on_demand.stdout, words
    listed_kinds = json.loads(kiln(home, "features", "list", "--json", cwd=tmp_path).stdout)
    assert ("on_demand_view", "spend_ratio") in [(e["kind"], e["name"]) for e in listed_kinds]
    body = json.loads(
        kiln(home, "features", "describe", "customer_stats", "--json", cwd=tmp_path).stdout
    )
    # Customer 1's newest spend (2.5, not the older 1.0) and customer 2's (4.0).
    assert (body["statistics"]["spend"]["min"], body["statistics"]["spend"]["max"]) == (2.5, 4.0)
    assert body["statistics"]["spend"]["count"] == 2
    assert [m["status"] for m in body["materializations"]] == ["COMPLETED", "COMPLETED"]

    online = kiln(
        home,
        "features",
        "online",
        "-f",
        "customer_stats:spend,customer_stats:segment",
        "customer_id=1,2,9",
        "--json",
        cwd=tmp_path,
    )
    assert online.returncode == 0, online.stderr
    found = json.loads(online.stdout)
    assert found["feature_names"] == ["customer_id", "spend", "segment"]
    assert found["results"][0]["values"] == [1, 2, 9]
    assert found["results"][1]["values"] == [2.5, 4.0, None]
    assert found["results"][1]["statuses"] == ["present", "present", "missing"]
    shown = kiln(
        home,
        "features",
        "online",
        "--service",
        "fraud",
        "--entities",
        '[{"customer_id": 2}]',
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    assert "present" in shown.stdout
    assert "2026-01-01 06:00:00" in shown.stdout


def test_bad_cli_input_exits_with_its_code_and_says_what_to_do(tmp_path: Path) -> None:
    home = _catalog_home(tmp_path)
    cases = [
        (("describe", "custmer_stats"), 3, "did you mean customer_stats"),
        (("describe", "customer_stats", "--kind", "table"), 6, "unknown definition kind"),
        (("materialize", "--start", "yesterday"), 6, "not an ISO 8601 time"),
        (("materialize", "nope"), 3, "unknown feature view 'nope'"),
        (("online", "customer_id=1"), 6, "give --features"),
        (
            ("online", "-f", "customer_stats:spend", "--service", "fraud", "customer_id=1"),
            6,
            "not both",
        ),
        (("online", "-f", "customer_stats:spnd", "customer_id=1"), 3, "did you mean spend"),
        (("online", "-f", "customer_stats:spend", "customer_id=abc"), 6, "must be an integer"),
        (("online", "-f", "customer_stats:spend", "customer_id"), 6, "is not KEY=VALUE"),
        (("online", "-f", "customer_stats:spend"), 6, "which entities?"),
        (("online", "-f", "customer_stats:spend", "--entities", "{bad"), 6, "not JSON"),
    ]
    for args, code, words in cases:
        done = kiln(home, "features", *args, cwd=tmp_path)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert words in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_skew_exits_1_naming_the_key_when_online_differs(tmp_path: Path) -> None:
    import orjson

    from kiln.config import Settings
    from kiln.context import Context
    from kiln.features import FeatureStore
    from kiln.features._online_rows import encode_key, online_table, to_micros

    home = _catalog_home(tmp_path)
    end = "2026-01-03T00:00:00+00:00"
    assert kiln(home, "features", "materialize", "--end", end, cwd=tmp_path).returncode == 0
    clean = kiln(home, "features", "skew", cwd=tmp_path)
    assert clean.returncode == 0, clean.stderr
    assert "customer_stats: 2 of 2 served keys compared on 2 features" in clean.stdout
    assert "no skew" in clean.stdout

    context = Context(Settings(home=home))
    try:
        store = FeatureStore(context)
        store.online.write(
            online_table("default", "customer_stats"),
            [
                (
                    encode_key([2]),
                    to_micros(datetime(2026, 1, 1, 6, tzinfo=UTC)),
                    orjson.dumps({"spend": 4.5, "segment": None}),
                )
            ],
        )
        store.close()
    finally:
        context.close()
    skewed = kiln(home, "features", "skew", "customer_stats", "--sample", "5", cwd=tmp_path)
    assert skewed.returncode == 1, (skewed.stdout, skewed.stderr)
    assert "customer_id=2" in skewed.stdout
    assert "value" in skewed.stdout
    assert "1 of 4 values differ (25.00%), on 1 keys" in skewed.stdout
    body = json.loads(kiln(home, "features", "skew", "--json", cwd=tmp_path).stdout)
    assert body["ok"] is False
    (detail,) = body["views"][0]["details"]
    assert detail["key"] == {"customer_id": 2}
    assert (detail["feature"], detail["online_value"], detail["offline_value"]) == (
        "spend",
        4.5,
        4.0,
    )
    assert (
        "Exits 1 when any mismatch" in kiln(home, "features", "skew", "--help", cwd=tmp_path).stdout
    )

    for args, code, words in [
        (("--sample", "0"), 6, "sample must be"),
        (("custmer_stats",), 3, "did you mean customer_stats"),
    ]:
        done = kiln(home, "features", "skew", *args, cwd=tmp_path)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert words in done.stderr
        assert "Traceback" not in done.stderr
