"""Feast's side of ``benchmarks/features.py``, run in a child process of its own.

    python benchmarks/_feast_side.py historical FOLDER
    python benchmarks/_feast_side.py online FOLDER END_ISO HOURS REPEATS

``features.py`` writes the data (the same rows its Kiln run used, as Parquet)
into FOLDER and starts this script with the same interpreter, so the peak RSS
reported here is Feast's own (imports, the entity dataframe and the join), not
the Kiln run's. Each command builds a Feast repo in FOLDER programmatically
(``RepoConfig``: local provider, file registry, the DuckDB offline store,
the SQLite online store), applies an entity and a feature view over the
Parquet, and prints one JSON object on its last line of stdout.

``historical``: ``get_historical_features(entity_df, features).to_df()`` on
``entity.parquet`` (with a ``row`` column, the entity dataframe's input order)
against ``rows.parquet`` (event and created timestamps, 8 features, 24 h
ttl); the result, sorted by ``row``, is written to ``result.parquet`` for the
parent to checksum and compare with Kiln's.

``online``: ``materialize`` of ``online.parquet`` into the SQLite online store,
then in-process ``get_online_features`` for 1 and 100 random entities x 8
features after one warm-up read (timed alone and with ``.to_dict()``), and a
check of 1,000 random entities' online values against the newest source row
of each.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = [f"f{i}" for i in range(8)]
TTL = timedelta(hours=24)


def _rss_mb() -> int:
    """This process's peak RSS in MB.

    ``VmHWM`` rather than ``getrusage``: Linux carries ``ru_maxrss`` over
    ``exec``, so a child started from a large parent would report the
    parent's size; ``VmHWM`` belongs to the child's own address space.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _percentiles(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 4),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 4),
    }


def _store(folder: Path, source_path: Path, created: str | None):  # type: ignore[no-untyped-def]
    """A Feast repo in ``folder``: one entity, one 8-feature view with a 24 h ttl."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.types import Float64, Int64

    config = RepoConfig(
        project="bench",
        provider="local",
        registry=str(folder / "registry.db"),
        offline_store={"type": "duckdb"},
        online_store={"type": "sqlite", "path": str(folder / "online.db")},
        repo_path=folder,
        entity_key_serialization_version=3,
    )
    store = FeatureStore(config=config)
    entity = Entity(name="entity", join_keys=["entity_id"], value_type=ValueType.INT64)
    source = FileSource(
        name="hourly_source",
        path=str(source_path),
        timestamp_field="event_timestamp",
        created_timestamp_column=created or "",
    )
    view = FeatureView(
        name="hourly",
        entities=[entity],
        ttl=TTL,
        schema=[Field(name="entity_id", dtype=Int64)]
        + [Field(name=name, dtype=Float64) for name in FEATURES],
        source=source,
        online=True,
    )
    started = time.perf_counter()
    store.apply([entity, view])
    return store, time.perf_counter() - started


def historical(folder: Path) -> dict[str, object]:
    import feast

    entity = pd.read_parquet(folder / "entity.parquet")
    store, apply_s = _store(folder, folder / "rows.parquet", "created")
    before = _rss_mb()
    started = time.perf_counter()
    result = store.get_historical_features(
        entity_df=entity, features=[f"hourly:{name}" for name in FEATURES]
    ).to_df()
    feast_s = time.perf_counter() - started
    peak = _rss_mb()
    rows_out = len(result)
    columns = list(result.columns)
    returned_in_order = bool((result["row"].to_numpy() == np.arange(len(result))).all())
    result = result.sort_values("row", kind="stable").reset_index(drop=True)
    result[["row", "entity_id", *FEATURES]].to_parquet(folder / "result.parquet")
    return {
        "feast_version": feast.__version__,
        "apply_s": round(apply_s, 3),
        "historical_s": round(feast_s, 3),
        "peak_rss_mb_before": before,
        "peak_rss_mb": peak,
        "rows_in": len(entity),
        "rows_out": rows_out,
        "columns_out": columns,
        "returned_in_input_order": returned_in_order,
    }


def online(folder: Path, end: datetime, hours: int, repeats: int) -> dict[str, object]:
    import feast

    frame = pd.read_parquet(folder / "online.parquet")
    entities = int(frame["entity_id"].max()) + 1
    store, apply_s = _store(folder, folder / "online.parquet", None)
    started = time.perf_counter()
    store.materialize(start_date=end - timedelta(hours=hours), end_date=end)
    materialize_s = time.perf_counter() - started
    with sqlite3.connect(folder / "online.db") as db:  # Feast: one row per entity and feature
        keys_written = db.execute("SELECT COUNT(DISTINCT entity_key) FROM bench_hourly").fetchone()
    references = [f"hourly:{name}" for name in FEATURES]
    rng = np.random.default_rng(11)
    report: dict[str, object] = {
        "feast_version": feast.__version__,
        "entities": entities,
        "source_rows": len(frame),
        "apply_s": round(apply_s, 3),
        "materialize_s": round(materialize_s, 3),
        "keys_written": keys_written[0],
        "peak_rss_mb_after_materialize": _rss_mb(),
        "reads_each": repeats,
    }
    # One warm-up read: the first loads the registry and opens SQLite (~40 ms).
    store.get_online_features(features=references, entity_rows={"entity_id": [0]}).to_dict()
    for count in (1, 100):
        call, to_dict = [], []
        for _ in range(repeats):
            rows = {"entity_id": rng.integers(0, entities, count).tolist()}
            began = time.perf_counter()
            response = store.get_online_features(features=references, entity_rows=rows)
            middle = time.perf_counter()
            response.to_dict()
            call.append(middle - began)
            to_dict.append(time.perf_counter() - began)
        report[f"read_{count}x8"] = _percentiles(call)
        report[f"read_{count}x8_with_to_dict"] = _percentiles(to_dict)
    # Correctness: each entity's online values are its newest source row.
    sample = rng.choice(entities, size=min(1000, entities), replace=False).tolist()
    got = pd.DataFrame(
        store.get_online_features(features=references, entity_rows={"entity_id": sample}).to_dict()
    )
    newest = (
        frame.sort_values("event_timestamp")
        .drop_duplicates("entity_id", keep="last")
        .set_index("entity_id")
        .loc[sample, FEATURES]
        .to_numpy(dtype="float64")
    )
    values = got[FEATURES].to_numpy(dtype="float64")
    report["online_check"] = {
        "entities": len(sample),
        "match_newest_source_row": int((values == newest).all(axis=1).sum()),
    }
    return report


def main() -> None:
    if len(sys.argv) < 3:  # `make bench` runs every script without arguments
        print(json.dumps({"benchmark": "_feast_side", "note": "run by benchmarks/features.py"}))
        return
    command, folder = sys.argv[1], Path(sys.argv[2])
    if command == "historical":
        report = historical(folder)
    elif command == "online":
        end = datetime.fromisoformat(sys.argv[3])
        report = online(folder, end, int(sys.argv[4]), int(sys.argv[5]))
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
