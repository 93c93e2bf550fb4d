"""Feature store: historical (point-in-time) retrieval against a pandas merge_asof reference.

    python benchmarks/features.py [--entities 1000] [--hours 168] [--rows 1000000]
                                  [--online-entities 100000] [--online-hours 24]
                                  [--feast-online-entities N] [--feast-reads 300]

Data shaped like the issue's Feast figures: N entities x hourly feature rows
with 8 features, some hours missing (gaps) and some rows corrected later (a
second row with the same event time and a later created time), a ttl of 24
hours, and an entity dataframe of M rows with random keys and timestamps.
The reference is pandas ``merge_asof`` on rows already reduced to the latest
correction, with the ttl as its ``tolerance``; the two results must be
identical (compared by checksum). Peak RSS is the process's high-water mark
after the run.

Then the online path through ``FeatureStore``: materializing N entities x
hourly rows (8 features) from Parquet into the SQLite online store (and
Redis at 127.0.0.1:6379 when it answers), and ``get_online_features`` for 1
and 100 entities x 8 features (p50/p99 over 2,000 reads each, with the
per-read definitions check included); then ``check_skew`` sampling 100
entities of that view (best and median of 5 seeds; it must find no skew).

When ``feast`` is importable (``pip install 'feast[duckdb]'``), the same run
measures Feast on the same data, each part in a child process of its own
(``benchmarks/_feast_side.py``, so its peak RSS is Feast's): a Feast repo with
the DuckDB offline store and the SQLite online store, a FileSource over the
same Parquet (created timestamp column included) and a feature view with the
same 8 features and ttl; ``get_historical_features(...).to_df()`` on the same
entity dataframe, its result sorted back to input order and checksummed like
Kiln's (rows that differ are counted, with examples); ``materialize`` of the
online rows (all ``--online-entities``, or the first ``--feast-online-entities``
of them) into SQLite; and ``get_online_features`` for 1 and 100 entities x 8
features (p50/p99 over ``--feast-reads`` reads each). All of it is under the
``feast`` key of the JSON, with Feast's version.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from kiln.features._pit import ViewRows, point_in_time_join

REPEATS = 2000

FEATURES = [f"f{i}" for i in range(8)]
TTL = timedelta(hours=24)
START = pd.Timestamp("2026-01-01", tz="UTC")


def feature_rows(entities: int, hours: int, rng: np.random.Generator) -> pd.DataFrame:
    keys = np.repeat(np.arange(entities, dtype=np.int64), hours)
    hour = np.tile(np.arange(hours, dtype=np.int64), entities)
    kept = rng.random(len(keys)) > 0.05  # 5 % gaps
    keys, hour = keys[kept], hour[kept]
    event = START + pd.to_timedelta(hour, unit="h")
    frame = pd.DataFrame({"entity_id": keys, "event_timestamp": event, "created": event})
    for name in FEATURES:
        frame[name] = rng.random(len(frame))
    late = frame.sample(frac=0.02, random_state=1).copy()  # late corrections
    late["created"] = late["created"] + pd.Timedelta(hours=2)
    for name in FEATURES:
        late[name] = rng.random(len(late))
    return pd.concat([frame, late], ignore_index=True)


def entity_rows(entities: int, hours: int, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    seconds = rng.integers(0, (hours + 30) * 3600, rows)
    return pd.DataFrame(
        {
            "entity_id": rng.integers(0, entities + 10, rows).astype(np.int64),  # some unknown
            "event_timestamp": START + pd.to_timedelta(seconds, unit="s"),
        }
    )


def reference(entity: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    latest = rows.sort_values("created").drop_duplicates(
        ["entity_id", "event_timestamp"], keep="last"
    )
    ordered = entity.reset_index().sort_values("event_timestamp", kind="stable")
    merged = pd.merge_asof(
        ordered,
        latest.drop(columns="created").sort_values("event_timestamp"),
        on="event_timestamp",
        by="entity_id",
        tolerance=pd.Timedelta(TTL),
        direction="backward",
        allow_exact_matches=True,
    )
    return merged.sort_values("index").drop(columns="index").reset_index(drop=True)


def checksum(frame: pd.DataFrame) -> str:
    values = frame[FEATURES].to_numpy(dtype="float64")
    return hashlib.sha256(np.nan_to_num(values, nan=-1.0).tobytes()).hexdigest()[:16]


def _percentiles(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 4),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 4),
    }


def online(
    entities: int, hours: int, rng: np.random.Generator
) -> tuple[dict[str, object], Path, pd.Timestamp]:
    """Materialize into each reachable online store, then time in-process online reads.

    Returns the report, the source Parquet and the materialization's end.
    """
    import socket
    import tempfile
    import uuid

    import pyarrow.parquet as pq

    from kiln.config import Settings
    from kiln.context import Context
    from kiln.features import Definitions, Entity, FeatureStore, FeatureView, Field, ParquetSource

    folder = Path(tempfile.mkdtemp(prefix="kiln-bench-features-"))
    keys = np.repeat(np.arange(entities, dtype=np.int64), hours)
    end = pd.Timestamp.now(tz="UTC").floor("h")
    event = end - pd.to_timedelta(np.tile(np.arange(hours)[::-1], entities), unit="h")
    frame = pd.DataFrame({"entity_id": keys, "event_timestamp": event})
    for name in FEATURES:
        frame[name] = rng.random(len(frame))
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "rows.parquet")
    view = FeatureView(
        "hourly",
        [Entity("entity", {"entity_id": "int64"})],
        ParquetSource(str(folder / "rows.parquet")),
        [Field(name, "float64") for name in FEATURES],
        ttl=TTL,
    )
    stores = {"sqlite": f"sqlite:///{folder / 'online.db'}"}
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        stores["redis"] = "redis://127.0.0.1:6379/0"
    except OSError:
        pass
    report: dict[str, object] = {"source_rows": len(frame)}
    references = [f"hourly:{name}" for name in FEATURES]
    for kind, url in stores.items():
        project = "default" if kind == "sqlite" else f"bench{uuid.uuid4().hex[:8]}"
        context = Context(Settings(home=folder / kind, project=project, online_store_url=url))
        if project != "default":
            from kiln.auth import ensure_project

            context.db.run(ensure_project, project)
        store = FeatureStore(context)
        store.apply(Definitions.of(view))
        started = time.perf_counter()
        (done,) = store.materialize(end=end.to_pydatetime())
        materialize_s = time.perf_counter() - started
        results: dict[str, object] = {
            "materialize_s": round(materialize_s, 3),
            "keys_written": done.keys_written,
        }
        timings = []
        for seed in range(5):
            began = time.perf_counter()
            skew = store.check_skew(sample=100, seed=seed)
            timings.append(time.perf_counter() - began)
            assert skew.ok, skew.mismatches[:3]
        results["skew_check_100_keys_s"] = {
            "best": round(min(timings), 3),
            "median": round(sorted(timings)[len(timings) // 2], 3),
        }
        for count in (1, 100):
            timings = []
            for _ in range(REPEATS):
                rows = {"entity_id": rng.integers(0, entities, count).tolist()}
                began = time.perf_counter()
                store.get_online_features(rows, references)
                timings.append(time.perf_counter() - began)
            results[f"read_{count}x8"] = _percentiles(timings)
        if kind == "redis":
            client = store.online._connect()[0]  # type: ignore[attr-defined]
            pings = []
            for _ in range(REPEATS):
                began = time.perf_counter()
                client.ping()
                pings.append(time.perf_counter() - began)
            results["ping"] = _percentiles(pings)
            store.online.drop(f"{project}/hourly")
        store.close()
        context.close()
        report[kind] = results
    return report, folder / "rows.parquet", end


def _run_child(*arguments: str) -> dict[str, object]:
    """Run ``_feast_side.py`` with this interpreter; its last stdout line is JSON."""
    script = Path(__file__).with_name("_feast_side.py")
    done = subprocess.run(
        [sys.executable, str(script), *arguments], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-20:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _differences(
    kiln: pd.DataFrame, feast: pd.DataFrame, entity: pd.DataFrame
) -> dict[str, object]:
    """Rows whose 8 features differ between the two results (null equals null)."""
    ours = kiln[FEATURES].to_numpy(dtype="float64")
    theirs = feast[FEATURES].to_numpy(dtype="float64")
    same = (ours == theirs) | (np.isnan(ours) & np.isnan(theirs))
    differ = ~same.all(axis=1)
    kiln_null = np.isnan(ours).all(axis=1)
    feast_null = np.isnan(theirs).all(axis=1)
    examples = []
    for row in np.flatnonzero(differ)[:5]:
        examples.append(
            {
                "row": int(row),
                "entity_id": int(entity["entity_id"].iloc[row]),
                "event_timestamp": entity["event_timestamp"].iloc[row].isoformat(),
                "kiln": [None if np.isnan(v) else round(float(v), 6) for v in ours[row]],
                "feast": [None if np.isnan(v) else round(float(v), 6) for v in theirs[row]],
            }
        )
    return {
        "rows_differing": int(differ.sum()),
        "rows_null_in_kiln_not_feast": int((kiln_null & ~feast_null).sum()),
        "rows_null_in_feast_not_kiln": int((feast_null & ~kiln_null).sum()),
        "rows_other_values": int((differ & ~kiln_null & ~feast_null).sum()),
        "examples": examples,
    }


def feast_side(
    args: argparse.Namespace,
    rows: pd.DataFrame,
    entity: pd.DataFrame,
    kiln_frame: pd.DataFrame,
    online_rows: Path,
    end: pd.Timestamp,
) -> dict[str, object]:
    """Feast on the same data, each part in a child process (see ``_feast_side.py``)."""
    import tempfile

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = Path(tempfile.mkdtemp(prefix="kiln-bench-feast-"))
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), folder / "rows.parquet")
    numbered = entity.assign(row=np.arange(len(entity), dtype=np.int64))
    pq.write_table(pa.Table.from_pandas(numbered, preserve_index=False), folder / "entity.parquet")
    report: dict[str, object] = {"offline_store": "duckdb", "online_store": "sqlite"}
    started = time.perf_counter()
    historical = _run_child("historical", str(folder))
    historical["child_process_s"] = round(time.perf_counter() - started, 3)
    if "error" not in historical:
        result = pd.read_parquet(folder / "result.parquet")
        # Sorted by the ``row`` column in the child: one row per input row, in input order.
        historical["aligned_to_input"] = bool(
            len(result) == len(entity)
            and (result["row"].to_numpy() == np.arange(len(entity))).all()
        )
        if historical["aligned_to_input"]:
            historical["feast_checksum"] = checksum(result)
            historical["kiln_checksum"] = checksum(kiln_frame)
            historical["identical_to_kiln"] = historical["feast_checksum"] == checksum(kiln_frame)
            historical.update(_differences(kiln_frame, result, entity))
    report["version"] = historical.pop("feast_version", None)
    report["historical"] = historical

    online_folder = folder / "online"
    online_folder.mkdir()
    table = pq.read_table(online_rows)
    count = args.feast_online_entities or args.online_entities
    if count < args.online_entities:
        table = table.filter(pc.less(table["entity_id"], count))
    pq.write_table(table, online_folder / "online.parquet")
    started = time.perf_counter()
    online_report = _run_child(
        "online",
        str(online_folder),
        end.isoformat(),
        str(args.online_hours),
        str(args.feast_reads),
    )
    online_report["child_process_s"] = round(time.perf_counter() - started, 3)
    report["version"] = report["version"] or online_report.get("feast_version")
    online_report.pop("feast_version", None)
    report["online"] = online_report
    shutil.rmtree(folder, ignore_errors=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=168)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--online-entities", type=int, default=100_000)
    parser.add_argument("--online-hours", type=int, default=24)
    parser.add_argument(
        "--feast-online-entities",
        type=int,
        default=None,
        help="materialize only the first N of the online entities into Feast (default: all)",
    )
    parser.add_argument("--feast-reads", type=int, default=300, help="Feast online reads each")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    rows = feature_rows(args.entities, args.hours, rng)
    entity = entity_rows(args.entities, args.hours, args.rows, rng)
    rows_table = pa.Table.from_pandas(rows, preserve_index=False)
    entity_table = pa.Table.from_pandas(entity, preserve_index=False)
    view = ViewRows(
        "v", rows_table, ("entity_id",), "event_timestamp", tuple(FEATURES), "created", TTL
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = point_in_time_join(entity_table, [view])
    kiln_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kiln_frame = result.to_pandas()
    started = time.perf_counter()
    expected = reference(entity, rows)
    pandas_s = time.perf_counter() - started
    report = {
        "benchmark": "features",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "feature_rows": len(rows),
        "entity_rows": len(entity),
        "historical": {
            "kiln_s": round(kiln_s, 3),
            "peak_rss_mb_before": round(before / 1024),
            "peak_rss_mb": round(peak_mb),
            "pandas_merge_asof_s": round(pandas_s, 3),
            "kiln_checksum": checksum(kiln_frame),
            "pandas_checksum": checksum(expected),
            "identical": checksum(kiln_frame) == checksum(expected),
        },
    }
    report["online"], online_rows, end = online(args.online_entities, args.online_hours, rng)
    try:
        if importlib.util.find_spec("feast"):
            report["feast"] = feast_side(args, rows, entity, kiln_frame, online_rows, end)
        else:
            report["feast"] = "not installed"
    finally:
        shutil.rmtree(online_rows.parent, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
