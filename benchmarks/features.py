"""Feature store: historical (point-in-time) retrieval against a pandas merge_asof reference.

    python benchmarks/features.py [--entities 1000] [--hours 168] [--rows 1000000]
                                  [--online-entities 100000] [--online-hours 24]

Data shaped like the issue's Feast figures: N entities x hourly feature rows
with 8 features, some hours missing (gaps) and some rows corrected later (a
second row with the same event time and a later created time), a ttl of 24
hours, and an entity dataframe of M rows with random keys and timestamps.
The reference is pandas ``merge_asof`` on rows already reduced to the latest
correction, with the ttl as its ``tolerance``; the two results must be
identical (compared by checksum). Peak RSS is the process's high-water mark
after the run. Feast is measured side by side only when it is installed.

Then the online path through ``FeatureStore``: materializing N entities x
hourly rows (8 features) from Parquet into the SQLite online store (and
Redis at 127.0.0.1:6379 when it answers), and ``get_online_features`` for 1
and 100 entities x 8 features (p50/p99 over 2,000 reads each, with the
per-read definitions check included); then ``check_skew`` sampling 100
entities of that view (best and median of 5 seeds; it must find no skew).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import platform
import resource
import time
from datetime import timedelta

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


def online(entities: int, hours: int, rng: np.random.Generator) -> dict[str, object]:
    """Materialize into each reachable online store, then time in-process online reads."""
    import socket
    import tempfile
    import uuid
    from pathlib import Path

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
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=168)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--online-entities", type=int, default=100_000)
    parser.add_argument("--online-hours", type=int, default=24)
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
        "online": online(args.online_entities, args.online_hours, rng),
        "feast": "installed (side-by-side run not written yet)"
        if importlib.util.find_spec("feast")
        else "not installed",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
