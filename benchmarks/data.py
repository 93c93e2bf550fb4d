"""Datasets benchmark: hash, register, load, profile and validate 1,000,000 rows by 20 columns.

Prints one JSON object. The table has 12 float columns (two with 5 % nulls),
4 integer columns, 3 string columns of 5-50 categories and 1 boolean. Times
are the best of ``REPEAT`` runs in one warm process, on a fresh SQLite store
in a temporary folder. Targets: a profile in ≤ 2 s; validation against a
stored reference profile in ≤ 1 s.

Run: ``.venv/bin/python benchmarks/data.py``
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROWS = 1_000_000
REPEAT = 3


def best(fn: Callable[[], Any], repeat: int = REPEAT) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def make_table(rows: int, seed: int, shift: float = 0.0) -> Any:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for index in range(12):
        values = rng.lognormal(1.0 + index / 10, 0.6, rows) + shift
        mask = rng.random(rows) < 0.05 if index < 2 else None
        columns[f"num_{index:02d}"] = pa.array(values, mask=mask)
    for index in range(4):
        columns[f"int_{index}"] = rng.integers(0, 10 ** (index + 2), rows)
    for index, size in enumerate((5, 12, 50)):
        labels = np.array([f"cat_{index}_{value}" for value in range(size)])
        columns[f"str_{index}"] = pa.array(labels[rng.integers(0, size, rows)])
    columns["flag"] = rng.random(rows) < 0.1
    return pa.table(columns)


def main() -> None:
    import kiln
    import kiln.data
    from kiln.data._hash import content_hash
    from kiln.data._profiling import compute_profile

    reference = make_table(ROWS, seed=1)
    current = make_table(ROWS, seed=2, shift=0.05)
    results: dict[str, Any] = {
        "rows": ROWS,
        "columns": reference.num_columns,
        "in_memory_mb": round(reference.nbytes / 1e6, 1),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as home:
        kiln.configure(home=Path(home))
        seconds, _ = best(lambda: content_hash(reference))
        results["content_hash_s"] = round(seconds, 3)
        seconds, profile = best(lambda: compute_profile(reference, bins=20, top_k=20))
        results["profile_s"] = round(seconds, 3)

        started = time.perf_counter()
        first = kiln.data.register_dataset(reference, "bench")
        results["register_s"] = round(time.perf_counter() - started, 3)
        results["stored_mb"] = round(first.num_bytes / 1e6, 1)
        seconds, _ = best(lambda: kiln.data.register_dataset(reference, "bench"))
        results["re_register_same_content_s"] = round(seconds, 3)
        seconds, _ = best(lambda: kiln.data.load("bench@1", as_="arrow"))
        results["load_arrow_s"] = round(seconds, 3)
        seconds, _ = best(lambda: kiln.data.load("bench@1", as_="pandas"))
        results["load_pandas_s"] = round(seconds, 3)

        started = time.perf_counter()
        kiln.data.profile("bench@1")
        results["profile_stored_version_first_s"] = round(time.perf_counter() - started, 3)
        seconds, _ = best(lambda: kiln.data.profile("bench@1"))
        results["profile_stored_version_cached_s"] = round(seconds, 4)
        seconds, schema = best(lambda: kiln.data.infer_schema("bench@1"))
        results["infer_schema_s"] = round(seconds, 4)

        seconds, report = best(
            lambda: kiln.data.validate(current, schema, reference="bench@1", record=False)
        )
        results["validate_in_memory_vs_stored_profile_s"] = round(seconds, 3)
        results["checks"] = len(report.checks)
        results["failed_checks"] = len(report.failures)
        seconds, _ = best(lambda: kiln.data.validate(current, schema, reference=profile))
        results["validate_against_profile_object_s"] = round(seconds, 3)

        kiln.data.register_dataset(current, "bench")
        seconds, _ = best(
            lambda: kiln.data.validate(
                "bench@2", schema, reference="bench@1", thresholds=kiln.data.Thresholds.learned()
            )
        )
        results["validate_stored_version_learned_recorded_s"] = round(seconds, 3)
        seconds, _ = best(lambda: report.to_html(Path(home) / "report.html"))
        results["report_html_s"] = round(seconds, 4)
        kiln.get_context().close()
    results["targets_met"] = {
        "profile_le_2s": results["profile_s"] <= 2.0,
        "validate_le_1s": results["validate_in_memory_vs_stored_profile_s"] <= 1.0,
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
