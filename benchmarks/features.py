"""Feature store: historical (point-in-time) retrieval against a pandas merge_asof reference.

    python benchmarks/features.py [--entities 1000] [--hours 168] [--rows 1000000]

Data shaped like the issue's Feast figures: N entities x hourly feature rows
with 8 features, some hours missing (gaps) and some rows corrected later (a
second row with the same event time and a later created time), a ttl of 24
hours, and an entity dataframe of M rows with random keys and timestamps.
The reference is pandas ``merge_asof`` on rows already reduced to the latest
correction, with the ttl as its ``tolerance``; the two results must be
identical (compared by checksum). Peak RSS is the process's high-water mark
after the run. Feast is measured side by side only when it is installed.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=168)
    parser.add_argument("--rows", type=int, default=1_000_000)
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
        "feast": "installed (side-by-side run not written yet)"
        if importlib.util.find_spec("feast")
        else "not installed",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
