"""Monitoring benchmark: a drift + quality report, Kiln and Evidently side by side (issue 9).

Prints one JSON document to stdout; progress goes to stderr.

1. Data: reference and current of ``--rows`` rows (default 100,000), 15 numeric
   and 5 categorical columns (5-20 categories), seeded. Drift is injected in 4
   columns of the current data: ``n00`` (mean + 0.5 sd), ``n01`` (sd x 1.5),
   ``c0`` (15 points of share moved from the most to the least common
   category) and ``c2`` (the three most common of 12 categories down by half).
   Both sides read the same Parquet files.
2. Kiln: ``compare_report(reference, current)`` + ``write_report`` (HTML and
   JSON) in a fresh child process per repeat. The child reads the Parquet files
   into pandas first (not timed); its peak RSS then is the *baseline*; the
   figures are the peak RSS of the whole child and the peak above that baseline.
3. Evidently (``--evidently-python``, a separate venv): the same files through
   ``Report([DataDriftPreset(), DataSummaryPreset()])`` + ``save_html``, in a
   child of that interpreter, measured likewise. Also both at 1,000 rows.
4. Ratios Kiln / Evidently (targets: time <= 0.1, RSS <= 0.5).
5. False-positive rates at alpha = 0.05 on ``--simulations`` no-drift pairs of
   1,000 + 1,000 rows: KS, Cramér-von Mises, chi-square and G (10 categories),
   and for comparison the goodness-of-fit chi-square that takes the
   reference's proportions as exact (3, 10, 40 categories).
6. ``check_drift(profile, current)`` of 1,000,000 rows x 20 columns (a pyarrow
   Table in memory) against a ReferenceProfile of the 100,000-row reference
   (target <= 2 s), in a child process.

Run: ``.venv/bin/python benchmarks/monitoring.py --evidently-python /tmp/evidentlyenv/bin/python``

The module imports only the standard library at the top, so the Evidently venv
can run it as a child (``--child evidently``) without Kiln installed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent
NUMERIC = [f"n{i:02d}" for i in range(15)]
CATEGORICAL = {"c0": 5, "c1": 8, "c2": 12, "c3": 16, "c4": 20}
INJECTED = ["n00", "n01", "c0", "c2"]
ALPHA = 0.05


def log(message: str) -> None:
    print(f"[monitoring] {message}", file=sys.stderr, flush=True)


def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- data


def _category_probabilities(k: int) -> Any:
    import numpy as np

    weights = 1.0 / np.arange(1, k + 1) ** 0.8
    return weights / weights.sum()


def drifted_probabilities(name: str, k: int) -> Any:
    """The current data's category shares of categorical column ``name``."""
    p = _category_probabilities(k).copy()
    if name == "c0":  # 15 points of share from the most common to the least common category
        p[0] -= 0.15
        p[-1] += 0.15
    elif name == "c2":  # the three most common categories lose half their share
        p[:3] *= 0.5
        p /= p.sum()
    return p


def _numeric_values(rng: Any, index: int, rows: int) -> Any:
    makers = [
        lambda: rng.normal(10.0, 2.0, rows),
        lambda: rng.normal(0.0, 1.0, rows),
        lambda: rng.lognormal(0.0, 0.5, rows),
        lambda: rng.exponential(3.0, rows),
        lambda: rng.uniform(0.0, 100.0, rows),
        lambda: rng.gamma(2.0, 2.0, rows),
        lambda: rng.normal(-5.0, 10.0, rows),
        lambda: rng.beta(2.0, 5.0, rows),
        lambda: rng.standard_t(5.0, rows),
        lambda: rng.normal(1000.0, 50.0, rows),
        lambda: rng.lognormal(3.0, 1.0, rows),
        lambda: rng.uniform(-1.0, 1.0, rows),
        lambda: rng.weibull(1.5, rows),
        lambda: rng.normal(0.0, 0.01, rows),
        lambda: rng.normal(0.0, 1.0, rows) + 5.0 * (rng.random(rows) < 0.3),
    ]
    return makers[index]()


def generate(rows: int, seed: int, *, drift: bool) -> dict[str, Any]:
    """Column name → (float64 values) or (category index array, category labels)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for index, name in enumerate(NUMERIC):
        values = _numeric_values(rng, index, rows)
        if drift and name == "n00":
            values = values + 0.5 * 2.0  # + 0.5 sd (sd = 2)
        if drift and name == "n01":
            values = values * 1.5  # sd 1 → 1.5
        columns[name] = values
    for name, k in CATEGORICAL.items():
        p = drifted_probabilities(name, k) if drift else _category_probabilities(k)
        labels = [f"{name}_{i:02d}" for i in range(k)]
        columns[name] = (rng.choice(k, size=rows, p=p).astype(np.int32), labels)
    return columns


def to_arrow(columns: dict[str, Any]) -> Any:
    import pyarrow as pa

    arrays = {}
    for name, values in columns.items():
        if isinstance(values, tuple):
            index, labels = values
            arrays[name] = pa.DictionaryArray.from_arrays(
                pa.array(index), pa.array(labels)
            ).dictionary_decode()
        else:
            arrays[name] = pa.array(values)
    return pa.table(arrays)


def injected_effects() -> dict[str, Any]:
    """The size of each injected drift, in the units the default tests read."""
    import numpy as np

    def js(p: Any, q: Any, base: float) -> float:
        m = (p + q) / 2
        kl = lambda a: float(np.sum(a[a > 0] * np.log(a[a > 0] / m[a > 0])))  # noqa: E731
        return float(np.sqrt(0.5 * (kl(p) + kl(q)) / np.log(base)))

    found: dict[str, Any] = {
        "n00": "mean + 0.5 sd (normal(10, 2) → normal(11, 2)); normalized Wasserstein 0.5",
        "n01": "sd x 1.5 (normal(0, 1) → normal(0, 1.5)); normalized Wasserstein ≈ 0.40",
    }
    for name in ("c0", "c2"):
        k = CATEGORICAL[name]
        p, q = _category_probabilities(k), drifted_probabilities(name, k)
        found[name] = {
            "categories": k,
            "reference_shares": [round(float(x), 3) for x in p],
            "current_shares": [round(float(x), 3) for x in q],
            "jensen_shannon_base2": round(js(p, q, 2.0), 3),
            "jensen_shannon_base_e": round(js(p, q, float(np.e)), 3),
        }
    return found


def write_data(folder: Path, rows: int) -> dict[str, str]:
    import pyarrow.parquet as pq

    paths = {}
    for role, seed, drift in (("reference", 1, False), ("current", 2, True)):
        path = folder / f"{role}_{rows}.parquet"
        pq.write_table(to_arrow(generate(rows, seed, drift=drift)), path)
        paths[role] = str(path)
    return paths


# --------------------------------------------------------------------------- children


def _read_pandas(paths: dict[str, str]) -> tuple[Any, Any]:
    import pandas as pd

    return pd.read_parquet(paths["reference"]), pd.read_parquet(paths["current"])


def child_kiln(paths: dict[str, str]) -> dict[str, Any]:
    reference, current = _read_pandas(paths)
    baseline = peak_rss_mib()
    started = time.perf_counter()
    from kiln.monitoring import compare_report, write_report

    compare_report, write_report = compare_report, write_report  # resolve the lazy names
    imported = time.perf_counter() - started
    runs = []
    flagged: list[str] = []
    for _ in range(2):  # the first report in this process, then a second one
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            document = compare_report(reference, current)
            files = write_report(document, out)
            elapsed = time.perf_counter() - started
            sizes = {"html": files.html.stat().st_size, "json": files.json.stat().st_size}
        columns = document["windows"][0]["drift"]["columns"]
        flagged = sorted(name for name, column in columns.items() if column.get("drift"))
        tests = sorted({str(column.get("test")) for column in columns.values()})
        findings = len(document["windows"][0]["quality"].get("findings") or [])
        runs.append(elapsed)
        del document
        gc.collect()
    return {
        "import_s": imported,
        "first_report_s": runs[0],
        "second_report_s": runs[1],
        "baseline_rss_mib": baseline,
        "peak_rss_mib": peak_rss_mib(),
        "flagged": flagged,
        "tests": tests,
        "quality_findings": findings,
        "files_bytes": sizes,
    }


def child_evidently(paths: dict[str, str]) -> dict[str, Any]:
    reference, current = _read_pandas(paths)
    baseline = peak_rss_mib()
    started = time.perf_counter()
    import evidently
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    imported = time.perf_counter() - started
    definition = DataDefinition(
        numerical_columns=list(NUMERIC), categorical_columns=list(CATEGORICAL)
    )
    runs = []
    flagged: list[str] = []
    methods: set[str] = set()
    for _ in range(2):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            ref = Dataset.from_pandas(reference, data_definition=definition)
            cur = Dataset.from_pandas(current, data_definition=definition)
            snapshot = Report([DataDriftPreset(), DataSummaryPreset()]).run(
                current_data=cur, reference_data=ref
            )
            html = Path(out) / "report.html"
            snapshot.save_html(str(html))
            elapsed = time.perf_counter() - started
            sizes = {"html": html.stat().st_size}
        flagged = []
        for metric in snapshot.dict()["metrics"]:
            config = metric.get("config") or {}
            if not str(config.get("type", "")).endswith("ValueDrift"):
                continue
            method, threshold = str(config.get("method")), float(config["threshold"])
            value = float(metric["value"])
            methods.add(method)
            # Evidently's rule: a p-value drifts below its threshold, a distance at or above.
            drifted = value < threshold if "p_value" in method else value >= threshold
            if drifted:
                flagged.append(str(config["column"]))
        runs.append(elapsed)
        del snapshot, ref, cur
        gc.collect()
    import numpy
    import pandas

    return {
        "version": evidently.__version__,
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
        "import_s": imported,
        "first_report_s": runs[0],
        "second_report_s": runs[1],
        "baseline_rss_mib": baseline,
        "peak_rss_mib": peak_rss_mib(),
        "flagged": sorted(flagged),
        "tests": sorted(methods),
        "files_bytes": sizes,
    }


def child_large_check(reference_path: str, rows: int, repeats: int) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from kiln.monitoring import build_profile, check_drift

    reference = pq.read_table(reference_path)
    started = time.perf_counter()
    profile = build_profile(reference)
    profile_s = time.perf_counter() - started
    current = to_arrow(generate(rows, 3, drift=True))
    del reference
    gc.collect()
    baseline = peak_rss_mib()
    times = []
    flagged: list[str] = []
    for _ in range(repeats + 1):  # the first call also imports SciPy: kept apart
        started = time.perf_counter()
        report = check_drift(profile, current)
        times.append(time.perf_counter() - started)
        flagged = sorted(report.drifted_columns)
    return {
        "rows": current.num_rows,
        "columns": current.num_columns,
        "current_mib": current.nbytes / 2**20,
        "profile_build_s": profile_s,
        "first_check_s": times[0],
        "check_s": times[1:],
        "check_median_s": statistics.median(times[1:]),
        "baseline_rss_mib": baseline,
        "peak_rss_mib": peak_rss_mib(),
        "flagged": flagged,
    }


def run_child(python: str, args: list[str]) -> dict[str, Any]:
    completed = subprocess.run(
        [python, str(HERE), *args], capture_output=True, text=True, check=False, cwd=REPO
    )
    if completed.returncode != 0:
        raise RuntimeError(f"child {args[:2]} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout)


def measure_tool(python: str, tool: str, paths: dict[str, str], repeats: int) -> dict[str, Any]:
    runs = []
    for index in range(repeats):
        log(f"{tool} at {paths['reference']}: run {index + 1}/{repeats}")
        runs.append(run_child(python, ["--child", tool, "--paths", json.dumps(paths)]))
    median = lambda key: statistics.median(run[key] for run in runs)  # noqa: E731
    summary = {
        "repeats": repeats,
        "import_s": median("import_s"),
        "first_report_s": median("first_report_s"),
        "second_report_s": median("second_report_s"),
        "import_and_first_report_s": statistics.median(
            run["import_s"] + run["first_report_s"] for run in runs
        ),
        "second_report_s_all": [round(run["second_report_s"], 3) for run in runs],
        "first_report_s_all": [round(run["first_report_s"], 3) for run in runs],
        "peak_rss_mib": median("peak_rss_mib"),
        "baseline_rss_mib": median("baseline_rss_mib"),
        "rss_above_baseline_mib": statistics.median(
            run["peak_rss_mib"] - run["baseline_rss_mib"] for run in runs
        ),
        "flagged": runs[-1]["flagged"],
        "flagged_same_every_run": all(run["flagged"] == runs[0]["flagged"] for run in runs),
        "exactly_injected": runs[-1]["flagged"] == sorted(INJECTED),
        "tests": runs[-1]["tests"],
        "files_bytes": runs[-1]["files_bytes"],
    }
    for key in ("version", "pandas", "numpy", "quality_findings"):
        if key in runs[-1]:
            summary[key] = runs[-1][key]
    return summary


# --------------------------------------------------------------------------- false positives


def false_positive_rates(simulations: int) -> dict[str, Any]:
    import numpy as np
    from scipy import stats

    from kiln.monitoring import chi_square, cramer_von_mises, g_test, ks_test

    n = 1000

    def rate(rejections: int) -> dict[str, Any]:
        value = rejections / simulations
        return {"rate": value, "within_0.05_pm_0.02": abs(value - ALPHA) <= 0.02}

    found: dict[str, Any] = {"simulations": simulations, "n_reference": n, "n_current": n}
    # The binomial standard error of a true 5 % rate at this many simulations.
    found["binomial_se"] = (ALPHA * (1 - ALPHA) / simulations) ** 0.5
    rng = np.random.default_rng(11)
    for name, test in (("ks", ks_test), ("cramer_von_mises", cramer_von_mises)):
        rejected = 0
        for _ in range(simulations):
            result = test(rng.normal(0, 1, n), rng.normal(0, 1, n), threshold=ALPHA)
            rejected += bool(result.drift)
        found[name] = rate(rejected)

    def counts(p: Any) -> tuple[Any, Any]:
        k = len(p)
        return (
            np.bincount(rng.choice(k, n, p=p), minlength=k).astype(float),
            np.bincount(rng.choice(k, n, p=p), minlength=k).astype(float),
        )

    for k in (3, 10, 40):
        p = _category_probabilities(k)
        kiln_chi = kiln_g = gof = 0
        for _ in range(simulations):
            ref, cur = counts(p)
            kiln_chi += bool(chi_square(ref, cur, threshold=ALPHA).drift)
            kiln_g += bool(g_test(ref, cur, threshold=ALPHA).drift)
            expected = ref / ref.sum() * cur.sum()
            with np.errstate(divide="ignore", invalid="ignore"):
                if np.any((expected == 0) & (cur > 0)):
                    gof += 1  # a category unseen in the reference: infinite statistic
                    continue
                used = expected > 0
                p_value = stats.chisquare(cur[used], expected[used]).pvalue
            gof += bool(p_value < ALPHA)
        found[f"chi_square_k{k}"] = rate(kiln_chi)
        found[f"g_test_k{k}"] = rate(kiln_g)
        found[f"goodness_of_fit_chi_square_k{k}"] = rate(gof)
    return found


# --------------------------------------------------------------------------- facts


def machine() -> dict[str, Any]:
    import numpy

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem = next(
            line for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line
        )
        ram_gib = int(mem.split()[1]) / 2**20
    except (OSError, StopIteration):
        ram_gib = 0.0
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO, check=False
    ).stdout.strip()
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(ram_gib, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "kiln_commit": commit,
        "load_average_at_start": [round(x, 2) for x in load],
    }


def ratio(kiln: dict[str, Any], other: dict[str, Any] | None, key: str) -> float | None:
    if other is None or not other.get(key):
        return None
    return kiln[key] / other[key]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    # 1,000 by default: at 200 the ±0.02 band is ±1.3 standard errors, so a correct test
    # falls outside it one time in five; at 1,000 it is ±2.9.
    parser.add_argument("--simulations", type=int, default=1_000)
    parser.add_argument("--large-rows", type=int, default=1_000_000)
    parser.add_argument("--small-rows", type=int, default=1_000)
    parser.add_argument("--evidently-python", default=None)
    parser.add_argument("--child", choices=["kiln", "evidently", "large"], help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child is not None:
        paths = json.loads(args.paths)
        if args.child == "kiln":
            found = child_kiln(paths)
        elif args.child == "evidently":
            found = child_evidently(paths)
        else:
            found = child_large_check(paths["reference"], args.large_rows, args.repeats)
        print(json.dumps(found))
        return

    document: dict[str, Any] = {"benchmark": "monitoring", "machine": machine()}
    document["data"] = {
        "rows": args.rows,
        "numeric": NUMERIC,
        "categorical": CATEGORICAL,
        "injected": sorted(INJECTED),
        "effects": injected_effects(),
    }
    evidently = args.evidently_python
    if evidently is not None and not Path(evidently).exists():
        evidently = None
    with tempfile.TemporaryDirectory(prefix="kiln-bench-monitoring-") as tmp:
        folder = Path(tmp)
        log("writing the data as Parquet")
        sizes = {
            "full": write_data(folder, args.rows),
            "small": write_data(folder, args.small_rows),
        }
        reports: dict[str, Any] = {}
        for label, paths in sizes.items():
            kiln = measure_tool(sys.executable, "kiln", paths, args.repeats)
            other: dict[str, Any] | None = None
            if evidently is not None:
                try:
                    other = measure_tool(evidently, "evidently", paths, args.repeats)
                except RuntimeError as error:
                    log(str(error))
                    other = {"error": str(error)[-500:]}
            reports[label] = {
                "rows": int(Path(paths["reference"]).stem.split("_")[-1]),
                "kiln": kiln,
                "evidently": other if other is not None else "not installed",
                "ratios": {
                    "time_import_and_first_report": ratio(kiln, other, "import_and_first_report_s"),
                    "time_first_report": ratio(kiln, other, "first_report_s"),
                    "time_second_report": ratio(kiln, other, "second_report_s"),
                    "peak_rss": ratio(kiln, other, "peak_rss_mib"),
                    "rss_above_baseline": ratio(kiln, other, "rss_above_baseline_mib"),
                },
            }
        document["reports"] = reports
        full = reports["full"]["ratios"]
        document["targets"] = {
            "time_ratio_le_0.1_second_report": None
            if full["time_second_report"] is None
            else full["time_second_report"] <= 0.1,
            "time_ratio_le_0.1_import_and_first_report": None
            if full["time_import_and_first_report"] is None
            else full["time_import_and_first_report"] <= 0.1,
            "rss_ratio_le_0.5": None if full["peak_rss"] is None else full["peak_rss"] <= 0.5,
        }
        log(f"false-positive rates, {args.simulations} simulations per test")
        document["false_positive_rates"] = false_positive_rates(args.simulations)
        log(f"check_drift of {args.large_rows:,} rows against a stored profile")
        large = run_child(
            sys.executable,
            [
                "--child",
                "large",
                "--paths",
                json.dumps(sizes["full"]),
                "--large-rows",
                str(args.large_rows),
                "--repeats",
                str(args.repeats),
            ],
        )
        large["target_le_2s"] = large["check_median_s"] <= 2.0
        document["large_check"] = large
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
