"""The built-in materializers for data: pandas, polars, Arrow, NumPy and JSON values.

Tables go to Parquet (pandas, polars) or the Arrow IPC file format (Arrow
tables, every Arrow type kept), arrays to ``.npy`` without pickles, other
values to canonical JSON. Each ``handles`` looks the library up in
``sys.modules``: a value of a library nobody imported cannot exist, so no
check imports anything.
"""

from __future__ import annotations

import importlib
import io
import json
import sys
from typing import TYPE_CHECKING, Any

from kiln.pipelines._materializer import Materializer

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore

__all__ = [
    "ArrowMaterializer",
    "JsonMaterializer",
    "NumpyMaterializer",
    "PandasMaterializer",
    "PolarsMaterializer",
]

_MAX_JSON_DEPTH = 100


def _is(obj: object, module: str, attribute: str) -> bool:
    library = sys.modules.get(module)
    if library is None:
        return False
    cls = getattr(library, attribute, None)
    return isinstance(cls, type) and isinstance(obj, cls)


def numpy_object() -> Any:
    """NumPy's object dtype (arrays of Python objects need pickle, so they are refused)."""
    return sys.modules["numpy"].dtype(object)


class PandasMaterializer(Materializer):
    """pandas DataFrames as Parquet (index and dtypes kept through pandas metadata)."""

    name = "pandas"
    version = "1"

    def handles(self, obj: object) -> bool:
        return _is(obj, "pandas", "DataFrame")

    def save(self, obj: Any, store: ArtifactStore) -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from kiln.data._sources import from_pandas  # the one pandas → Arrow conversion

        sink = pa.BufferOutputStream()
        pq.write_table(from_pandas(obj), sink)
        return store.put_bytes(sink.getvalue().to_pybytes()).digest

    def load(self, store: ArtifactStore, digest: str) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        return pq.read_table(pa.BufferReader(store.read_bytes(digest))).to_pandas()


class PolarsMaterializer(Materializer):
    """polars DataFrames as Parquet."""

    name = "polars"
    version = "1"

    def handles(self, obj: object) -> bool:
        return _is(obj, "polars", "DataFrame")

    def save(self, obj: Any, store: ArtifactStore) -> str:
        buffer = io.BytesIO()
        obj.write_parquet(buffer)
        return store.put_bytes(buffer.getvalue()).digest

    def load(self, store: ArtifactStore, digest: str) -> Any:
        polars = importlib.import_module("polars")  # optional: no stubs needed when absent
        return polars.read_parquet(io.BytesIO(store.read_bytes(digest)))


class ArrowMaterializer(Materializer):
    """pyarrow Tables in the Arrow IPC file format."""

    name = "arrow"
    version = "1"

    def handles(self, obj: object) -> bool:
        return _is(obj, "pyarrow", "Table")

    def save(self, obj: Any, store: ArtifactStore) -> str:
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, obj.schema) as writer:
            writer.write_table(obj)
        return store.put_bytes(sink.getvalue().to_pybytes()).digest

    def load(self, store: ArtifactStore, digest: str) -> Any:
        import pyarrow as pa

        return pa.ipc.open_file(pa.BufferReader(store.read_bytes(digest))).read_all()


class NumpyMaterializer(Materializer):
    """NumPy arrays as ``.npy``; arrays of Python objects are refused (they need pickle)."""

    name = "numpy"
    version = "1"

    def handles(self, obj: object) -> bool:
        return _is(obj, "numpy", "ndarray") and getattr(obj, "dtype", None) != numpy_object()

    def save(self, obj: Any, store: ArtifactStore) -> str:
        import numpy

        buffer = io.BytesIO()
        numpy.save(buffer, obj, allow_pickle=False)
        return store.put_bytes(buffer.getvalue()).digest

    def load(self, store: ArtifactStore, digest: str) -> Any:
        import numpy

        return numpy.load(io.BytesIO(store.read_bytes(digest)), allow_pickle=False)


class JsonMaterializer(Materializer):
    """None, bool, int, float, str, and lists, tuples and str-keyed dicts of them.

    Stored as canonical JSON; tuples come back as lists. NaN and infinities
    are kept (as JavaScript's ``NaN``/``Infinity``, which Python reads back).
    """

    name = "json"
    version = "1"

    def handles(self, obj: object) -> bool:
        return _json_value(obj, 0)

    def save(self, obj: Any, store: ArtifactStore) -> str:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return store.put_bytes(text.encode()).digest

    def load(self, store: ArtifactStore, digest: str) -> Any:
        return json.loads(store.read_bytes(digest))


def _json_value(obj: object, depth: int) -> bool:
    if obj is None or type(obj) in (str, bool, int) or isinstance(obj, float):
        return True  # floats include NumPy's float64, a float subclass
    if depth > _MAX_JSON_DEPTH:
        return False
    if type(obj) in (list, tuple):
        return all(_json_value(item, depth + 1) for item in obj)  # type: ignore[attr-defined]
    if type(obj) is dict:
        return all(
            isinstance(key, str) and _json_value(value, depth + 1) for key, value in obj.items()
        )
    return False
