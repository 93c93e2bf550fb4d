"""Monitoring: drift, data quality, performance, fairness, outliers, reports (issue 9).

::

    statistical tests        _stats.py           KS, Cramér-von Mises, Wasserstein, PSI,
      │                                          chi-square, G, Jensen-Shannon; choice; corrections
    ReferenceProfile         _reference.py       per-column sketches, stored once
      │ build_profile        _profiling.py       (numbers sorted once, categories counted once)
      │ against a profile    _against_profile.py KS / Wasserstein / PSI without the reference rows
    check_drift              _drift.py           per column, against rows or a profile
    check_quality            _quality.py         findings: missing, type errors, nulls, range, …
    classification_metrics,  _performance.py     once labels arrive
    regression_metrics
    fairness_metrics         _fairness.py        per sensitive attribute
    outlier_share            _outliers.py        robust z-scores, isolation forest
    reweighing_weights,      _mitigation.py      fairness mitigation for a retrain
    fit_threshold_optimizer
    challenge                _challenge.py       champion/challenger through the registry gate
      ▼
    Monitor (MonitorSpec)    _monitors.py, _monitor_spec.py   a deployment's log or a dataset
      │ evaluate_monitor     _evaluate.py, _window.py, _logged_rows.py  per window, stored
      ▼                      _results.py
    alert rules              _rules.py, _rule_evaluation.py, _evidence.py   once per window
      │ sinks, deliveries    _sinks.py, _deliveries.py (kiln.alerts guards webhook addresses)
      │ pipeline triggers    _triggers.py; pipelines.check_monitors for the scheduler
    reports                  _report.py (document), _report_html.py (the page)

The SDK verbs (``create_monitor``, ``evaluate_monitor``, ``profile_reference``,
``report``…) use the current context (``_fluent.py``). Importing this
package imports no NumPy, SciPy or Arrow: names load on first use.
docs/monitoring.md is the guide.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.monitoring._challenge import ChallengeResult, challenge
    from kiln.monitoring._drift import ColumnDrift, DriftReport, check_drift
    from kiln.monitoring._fairness import FairnessReport, fairness_by_attribute, fairness_metrics
    from kiln.monitoring._fluent import (
        add_rule,
        check_monitor,
        create_monitor,
        evaluate_monitor,
        get_monitor,
        list_monitors,
        list_results,
        profile_reference,
        report,
    )
    from kiln.monitoring._mitigation import fit_threshold_optimizer, reweighing_weights
    from kiln.monitoring._monitor_spec import MonitorSpec
    from kiln.monitoring._monitors import Monitor
    from kiln.monitoring._outliers import OutlierResult, outlier_share
    from kiln.monitoring._performance import (
        ClassificationMetrics,
        RegressionMetrics,
        classification_metrics,
        regression_metrics,
    )
    from kiln.monitoring._performance_windows import metrics_over_time
    from kiln.monitoring._profiles import StoredProfile
    from kiln.monitoring._profiling import build_profile
    from kiln.monitoring._quality import Finding, QualityLimits, QualityReport, check_quality
    from kiln.monitoring._reference import ReferenceProfile
    from kiln.monitoring._report import ReportFiles, compare_report, write_report
    from kiln.monitoring._report_html import render_html
    from kiln.monitoring._results import MonitorResult
    from kiln.monitoring._rules import AlertRule
    from kiln.monitoring._sinks import AlertSink, sink_from_spec
    from kiln.monitoring._stats import (
        TestResult,
        category_counts,
        chi_square,
        choose_test,
        correct,
        cramer_von_mises,
        g_test,
        jensen_shannon,
        ks_test,
        psi,
        wasserstein,
    )

#: Public name → the private module that defines it.
_HOMES: dict[str, str] = {
    "ClassificationMetrics": "_performance",
    "ColumnDrift": "_drift",
    "DriftReport": "_drift",
    "FairnessReport": "_fairness",
    "Finding": "_quality",
    "Monitor": "_monitors",
    "MonitorResult": "_results",
    "MonitorSpec": "_monitor_spec",
    "OutlierResult": "_outliers",
    "QualityLimits": "_quality",
    "QualityReport": "_quality",
    "ReferenceProfile": "_reference",
    "RegressionMetrics": "_performance",
    "ReportFiles": "_report",
    "StoredProfile": "_profiles",
    "TestResult": "_stats",
    "ChallengeResult": "_challenge",
    "AlertRule": "_rules",
    "AlertSink": "_sinks",
    "add_rule": "_fluent",
    "check_monitor": "_fluent",
    "sink_from_spec": "_sinks",
    "build_profile": "_profiling",
    "challenge": "_challenge",
    "category_counts": "_stats",
    "check_drift": "_drift",
    "check_quality": "_quality",
    "chi_square": "_stats",
    "choose_test": "_stats",
    "classification_metrics": "_performance",
    "compare_report": "_report",
    "correct": "_stats",
    "cramer_von_mises": "_stats",
    "create_monitor": "_fluent",
    "evaluate_monitor": "_fluent",
    "fairness_by_attribute": "_fairness",
    "fairness_metrics": "_fairness",
    "fit_threshold_optimizer": "_mitigation",
    "g_test": "_stats",
    "get_monitor": "_fluent",
    "jensen_shannon": "_stats",
    "ks_test": "_stats",
    "list_monitors": "_fluent",
    "list_results": "_fluent",
    "metrics_over_time": "_performance_windows",
    "outlier_share": "_outliers",
    "profile_reference": "_fluent",
    "psi": "_stats",
    "regression_metrics": "_performance",
    "render_html": "_report_html",
    "report": "_fluent",
    "reweighing_weights": "_mitigation",
    "wasserstein": "_stats",
    "write_report": "_report",
}

__all__ = [
    "AlertRule",
    "AlertSink",
    "ChallengeResult",
    "ClassificationMetrics",
    "ColumnDrift",
    "DriftReport",
    "FairnessReport",
    "Finding",
    "Monitor",
    "MonitorResult",
    "MonitorSpec",
    "OutlierResult",
    "QualityLimits",
    "QualityReport",
    "ReferenceProfile",
    "RegressionMetrics",
    "ReportFiles",
    "StoredProfile",
    "TestResult",
    "add_rule",
    "build_profile",
    "category_counts",
    "challenge",
    "check_drift",
    "check_monitor",
    "check_quality",
    "chi_square",
    "choose_test",
    "classification_metrics",
    "compare_report",
    "correct",
    "cramer_von_mises",
    "create_monitor",
    "evaluate_monitor",
    "fairness_by_attribute",
    "fairness_metrics",
    "fit_threshold_optimizer",
    "g_test",
    "get_monitor",
    "jensen_shannon",
    "ks_test",
    "list_monitors",
    "list_results",
    "metrics_over_time",
    "outlier_share",
    "profile_reference",
    "psi",
    "regression_metrics",
    "render_html",
    "report",
    "reweighing_weights",
    "sink_from_spec",
    "wasserstein",
    "write_report",
]


def __getattr__(name: str) -> Any:
    """Import each name on first use, so ``import kiln.monitoring`` stays light."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kiln.monitoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"kiln.monitoring.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
