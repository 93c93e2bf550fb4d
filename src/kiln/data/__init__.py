"""Versioned datasets: registration, loading, profiles, inferred schemas and validation.

::

    _fluent.py        the SDK on the current context: register_dataset, get_dataset,
      │               list_datasets, list_versions, get_version, load, profile,
      │               infer_schema, validate, list_validations
      ▼
    _service.py       operations over both stores: bytes first, then the row;
      │               computation between a read and a short write transaction
      ├── _sources.py     DataFrame / Arrow / polars / Parquet / CSV / folder → Arrow table
      ├── _hash.py        the version id: SHA-256 of the canonical content
      ├── _blobs.py       Parquet blobs in the artifact store, written and read
      ├── _profiling.py   Profile from a table (NumPy sort + Arrow value_counts)
      ├── _checks.py      validation checks (schema, nulls, ranges, categories,
      │                   uniqueness, row-count drop, PSI drift)
      └── _html.py        a report as one self-contained HTML page
    _datasets.py, _records.py   services: plain functions taking a Session first
    _entities.py, _profile.py, _schema.py, _thresholds.py, _report.py
                      Dataset, DatasetVersion, Profile, Schema, Thresholds, ValidationReport
    _names.py, _types.py        dataset names and name@version refs; Arrow type names

A version is immutable: its id is the hash of its content, its number counts
up per dataset, and ``name@latest`` / ``name@3`` / ``name@<id prefix>`` name
it. NumPy and Arrow are imported only when a function needs them. See
docs/data.md.
"""

from kiln.data._entities import Dataset, DatasetVersion, Field, StoredBlob
from kiln.data._fluent import (
    get_dataset,
    get_version,
    infer_schema,
    list_datasets,
    list_validations,
    list_versions,
    load,
    profile,
    register_dataset,
    validate,
)
from kiln.data._gate import ValidationFailed, check
from kiln.data._profile import ColumnProfile, Histogram, Profile
from kiln.data._report import Check, ValidationReport
from kiln.data._schema import ColumnExpectation, Schema
from kiln.data._thresholds import Fixed, Learned, Thresholds

__all__ = [
    "Check",
    "ColumnExpectation",
    "ColumnProfile",
    "Dataset",
    "DatasetVersion",
    "Field",
    "Fixed",
    "Histogram",
    "Learned",
    "Profile",
    "Schema",
    "StoredBlob",
    "Thresholds",
    "ValidationFailed",
    "ValidationReport",
    "check",
    "get_dataset",
    "get_version",
    "infer_schema",
    "list_datasets",
    "list_validations",
    "list_versions",
    "load",
    "profile",
    "register_dataset",
    "validate",
]
