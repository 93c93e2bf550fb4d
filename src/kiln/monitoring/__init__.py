"""Monitoring: drift, data quality, performance, fairness and explanations (issue 9).

Only the statistical tests are here so far (``_stats.py``: two-sample tests
and distances checked against SciPy, the automatic choice of test, and
multiple-testing corrections); docs/monitoring.md says what is built.
Importing this package imports no SciPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

__all__ = [
    "TestResult",
    "category_counts",
    "chi_square",
    "choose_test",
    "correct",
    "cramer_von_mises",
    "g_test",
    "jensen_shannon",
    "ks_test",
    "psi",
    "wasserstein",
]


def __getattr__(name: str) -> Any:
    """Import the statistics on first use, so ``import kiln.monitoring`` stays light."""
    if name not in __all__:
        raise AttributeError(f"module 'kiln.monitoring' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module("kiln.monitoring._stats"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
