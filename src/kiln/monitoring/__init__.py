"""Monitoring: drift, data quality, performance, fairness and explanations (issue 9).

Only the statistical tests are here so far (``_stats.py``); docs/monitoring.md
says what is built. Importing this package imports no SciPy or ML library.
"""

from __future__ import annotations

__all__: list[str] = []
