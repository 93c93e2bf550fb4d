"""The ``kiln.data`` SDK: register, list, load, profile, infer and validate on the current context.

Every function opens the stores of ``kiln.get_context()`` (the metadata store
and artifact store of ``settings``; project ``settings.project``) and calls
the services. ``kiln.data`` always opens the stores directly: it has no REST
routes yet, so ``KILN_SERVER_URL`` does not apply to it.
"""

from __future__ import annotations

import getpass
import importlib
from typing import TYPE_CHECKING, Any, Literal

from kiln.context import get_context
from kiln.data._entities import Dataset, DatasetVersion
from kiln.data._profile import DEFAULT_BINS, DEFAULT_TOP_K, Profile
from kiln.data._report import ValidationReport
from kiln.data._schema import DEFAULT_MAX_CATEGORIES, DEFAULT_NULL_RATE_MARGIN, Schema
from kiln.errors import InvalidInput

if TYPE_CHECKING:
    from kiln.data._thresholds import Thresholds

Format = Literal["pandas", "arrow", "polars"]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return ""


def register_dataset(
    data: Any, name: str, *, description: str = "", source: str | None = None
) -> DatasetVersion:
    """Store ``data`` as the next version of dataset ``name`` (made if missing).

    ``data`` is a pandas or polars DataFrame, a pyarrow Table, or the path of
    a Parquet file, a CSV file or a folder of Parquet files. It is kept as
    Parquet in the artifact store; its content hash is the version id, so
    registering the same content again returns the existing version.
    ``source`` overrides where the data is said to come from (default: the
    file's path or the object's type).
    """
    from kiln.data import _service

    context = get_context()
    return _service.register(
        context.db,
        context.artifacts,
        context.settings.project,
        data,
        name,
        description=description,
        source=source,
        created_by=_user(),
    )


def get_dataset(name: str) -> Dataset:
    """Dataset ``name`` of the current project (``NotFound`` lists the ones there are)."""
    from kiln.data import _datasets
    from kiln.data._names import check_dataset_name

    context = get_context()
    check_dataset_name(name)
    return context.db.read(_datasets.get_dataset, context.settings.project, name)


def list_datasets() -> list[Dataset]:
    """Every dataset of the current project, by name."""
    from kiln.data import _datasets

    context = get_context()
    return context.db.read(_datasets.list_datasets, context.settings.project)


def list_versions(name: str) -> list[DatasetVersion]:
    """The versions of dataset ``name``, newest first."""
    from kiln.data import _datasets
    from kiln.data._names import check_dataset_name

    context = get_context()
    check_dataset_name(name)
    return context.db.read(_datasets.list_versions, context.settings.project, name)


def get_version(ref: str) -> DatasetVersion:
    """The version ``ref`` names: ``name`` / ``name@latest``, ``name@3`` or ``name@<id prefix>``."""
    from kiln.data import _datasets

    context = get_context()
    return context.db.read(_datasets.get_version, context.settings.project, ref)


def load(ref: str | DatasetVersion, *, as_: Format = "pandas") -> Any:
    """A stored version's data as a pandas DataFrame, a pyarrow Table or a polars DataFrame."""
    from kiln.data import _service

    if as_ not in ("pandas", "arrow", "polars"):
        raise InvalidInput(f"as_ must be 'pandas', 'arrow' or 'polars', got {as_!r}", field="as_")
    context = get_context()
    table = _service.load(context.db, context.artifacts, context.settings.project, ref)
    if as_ == "arrow":
        return table
    if as_ == "polars":
        try:
            polars = importlib.import_module("polars")
        except ImportError:
            raise InvalidInput(
                "as_='polars' needs polars: pip install polars", field="as_"
            ) from None
        return polars.from_arrow(table)
    return table.to_pandas()


def profile(data: Any, *, bins: int = DEFAULT_BINS, top_k: int = DEFAULT_TOP_K) -> Profile:
    """Statistics per column of a stored version (``name@…``; kept) or of in-memory data.

    Per column: count, missing values, distinct values; numbers also get
    min/max/mean/std, quantiles, a ``bins``-bin histogram and the decile bins
    drift is measured over; categories get their ``top_k`` most frequent
    values. A string names a stored version; pass a ``Path`` for a file.
    """
    from kiln.data import _service

    context = get_context()
    return _service.profile(
        context.db, context.artifacts, context.settings.project, data, bins=bins, top_k=top_k
    )


def infer_schema(
    data: Any,
    *,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    null_rate_margin: float = DEFAULT_NULL_RATE_MARGIN,
) -> Schema:
    """Expectations (types, nullability, ranges, categories, uniqueness) that ``data`` meets.

    ``data`` is a stored version (``name@…``), in-memory data, a ``Path`` or a
    ``Profile``. Columns with at most ``max_categories`` distinct values get
    a category set; a column with missing values may have up to its observed
    rate + ``null_rate_margin`` missing.
    """
    from kiln.data import _service

    context = get_context()
    return _service.infer_schema(
        context.db,
        context.artifacts,
        context.settings.project,
        data,
        max_categories=max_categories,
        null_rate_margin=null_rate_margin,
    )


def validate(
    data: Any,
    schema: Schema | None = None,
    *,
    reference: Any = None,
    thresholds: Thresholds | None = None,
    record: bool = True,
) -> ValidationReport:
    """Check ``data`` against ``schema``, and against ``reference`` for row loss and drift.

    ``data`` is a stored version (``name@…``), in-memory data or a ``Path``;
    ``reference`` is the same or a ``Profile`` (a stored version's profile is
    computed once and kept). Without ``schema`` the reference's inferred one
    is used. ``thresholds`` sets each rate's limit, fixed or learned from the
    dataset's earlier passed validations (``Thresholds.learned()``).
    Validations of stored versions are recorded unless ``record=False``.
    """
    from kiln.data import _service

    context = get_context()
    return _service.validate(
        context.db,
        context.artifacts,
        context.settings.project,
        data,
        schema,
        reference=reference,
        thresholds=thresholds,
        record=record,
        created_by=_user(),
    )


def list_validations(ref: str) -> list[ValidationReport]:
    """Recorded validations of a dataset (``name``) or of one version (``name@3``), newest first."""
    from kiln.data import _records

    context = get_context()
    return context.db.read(_records.list_validations, context.settings.project, ref)
