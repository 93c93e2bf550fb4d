"""The feature store: features defined once, point-in-time-correct training sets.

Being built (issue 7). Today: the point-in-time join every offline read is
made of (``_pit.py``, DuckDB ASOF joins over Arrow); definitions, apply,
materialization and online stores come next. See docs/features.md.
"""
