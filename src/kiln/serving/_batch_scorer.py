"""Scoring one partition: the model's columns in, passthrough columns plus predictions out.

A :class:`ScoringJob` is what every partition is scored with, as plain
data, so a Ray worker gets it unchanged and builds its own
:class:`Scorer` (which loads and verifies the model once per task).

Output columns, in order: the ``keep`` columns as they were read, then
``prediction`` (``prediction_<i>`` for a model returning several columns)
or, for ``predict_proba``, one ``proba_<class>`` per class (the classes
from the estimator's ``classes_`` when it has them, else ``0, 1, …``).

Before anything is written, :meth:`Scorer.check` holds each partition's
schema against the model's signature: a missing column or a type the
signature cannot cast safely is :class:`~kiln.errors.InvalidInput` naming
the column and the partition. The check runs the signature on an empty
frame of the partition's types, so it costs no rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from kiln.errors import Conflict, InvalidInput
from kiln.serving._batch_output import TableWriter

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa

    from kiln.models import Predictor
    from kiln.serving._batch_input import Partition

__all__ = ["METHODS", "Method", "Scorer", "ScoringJob"]

Method = Literal["predict", "predict_proba"]
METHODS: tuple[Method, ...] = ("predict", "predict_proba")
#: Called after each chunk (or partition, on Ray) with the rows scored so far and the total.
RowsDone = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class ScoringJob:
    """What every partition is scored with: model folder, method, kept columns, chunk size.

    ``allow_pickle`` is the caller's opt-in for pickled models, as in ``load_model``.
    """

    model_folder: str
    method: Method
    keep: tuple[str, ...]
    chunk_rows: int
    allow_pickle: bool = False


class Scorer:
    """A loaded model and the columns to read and keep, applied to partitions.

    Build one with :meth:`load`, which loads (and verifies) the job's model.
    """

    def __init__(self, job: ScoringJob, predictor: Predictor) -> None:
        self.job = job
        self.predictor = predictor
        self._classes = _classes(predictor)
        signature = predictor.signature
        # Named inputs are read by name; an array model takes every column not kept.
        self._named = signature is not None and signature.kind != "ndarray"

    @classmethod
    def load(cls, job: ScoringJob) -> Scorer:
        """The scorer of ``job``, its model loaded; refused if it lacks the job's method."""
        from kiln.models import load_model

        predictor = load_model(job.model_folder, allow_pickle=job.allow_pickle)
        if job.method == "predict_proba" and not hasattr(predictor, "predict_proba"):
            raise InvalidInput(
                f"this {predictor.flavor} model has no predict_proba; score with predict",
                field="method",
            )
        return cls(job, predictor)

    # -- planning ------------------------------------------------------------------------

    def read_columns(self) -> list[str] | None:
        """The columns to read (None: all of them)."""
        if not self._named:
            return None
        signature = self.predictor.signature
        assert signature is not None
        names = [*self.job.keep, *signature.input_names]
        return list(dict.fromkeys(names))

    def features(self, names: list[str]) -> list[str]:
        """The columns handed to the model, out of the columns ``names`` of a chunk."""
        signature = self.predictor.signature
        if self._named and signature is not None:
            return signature.input_names
        return [name for name in names if name not in self.job.keep]

    def csv_types(self) -> dict[str, pa.DataType]:
        """Arrow types to read the model's float columns of a CSV file as.

        A CSV reader guesses each column's type from its first block, and a
        column of whole numbers there becomes int64, which a later ``12.5``
        then breaks; a float input is read as a float from the start.
        """
        import pyarrow as pa

        signature = self.predictor.signature
        if not self._named or signature is None:
            return {}
        floats = {"float64": pa.float64(), "float32": pa.float32(), "float16": pa.float16()}
        return {s.name: floats[s.dtype] for s in signature.inputs if s.dtype in floats}

    # -- checking ------------------------------------------------------------------------

    def check(self, partition: Partition) -> pa.Schema:
        """``partition``'s schema, refused (``InvalidInput``) if the model cannot take it."""
        schema = partition.schema(self.csv_types() if partition.kind == "csv" else None)
        names = list(schema.names)
        for name in self.job.keep:
            if name not in names:
                raise InvalidInput(
                    f"column {name!r} to keep is not in {partition.name}; its columns are "
                    f"{', '.join(names)}",
                    field=name,
                )
        features = self.features(names)
        for name in features:
            if name not in names:
                raise InvalidInput(
                    f"column {name!r} is missing from {partition.name}; the model expects "
                    f"columns {', '.join(features)}",
                    field=name,
                )
        signature = self.predictor.signature
        if signature is not None:
            empty = schema.empty_table().select(features).to_pandas()
            try:
                signature.enforce(empty)
            except InvalidInput as error:
                message = f"{partition.name}: {error.message}"
                raise InvalidInput(message, field=error.field) from None
        return schema

    # -- scoring -------------------------------------------------------------------------

    def write_partition(
        self, partition: Partition, writer: TableWriter, done: RowsDone | None = None
    ) -> int:
        """Score ``partition`` chunk by chunk into ``writer``; the number of chunks."""
        chunks = 0
        columns = self.read_columns()
        types = self.csv_types() if partition.kind == "csv" else None
        with partition.chunks(columns, self.job.chunk_rows, types) as tables:
            for table in tables:
                writer.write(self.score(table, partition))
                chunks += 1
                if done is not None:
                    done(table.num_rows)
        return chunks

    def score(self, table: pa.Table, partition: Partition) -> pa.Table:
        """The output rows of one chunk: kept columns, then the predictions."""
        import pyarrow as pa

        frame = table.select(self.features(list(table.schema.names))).to_pandas()
        try:
            output = getattr(self.predictor, self.job.method)(frame)
        except InvalidInput as error:  # a value the schema check could not see (a null int)
            raise InvalidInput(f"{partition.name}: {error.message}", field=error.field) from None
        columns: dict[str, Any] = {name: table.column(name) for name in self.job.keep}
        for name, values in self._prediction_columns(output, table.num_rows).items():
            if name in columns:
                raise InvalidInput(
                    f"the kept column {name!r} has the name of an output column; rename it",
                    field=name,
                )
            columns[name] = values
        return pa.table(columns)

    def empty_schema(self, partition: Partition) -> pa.Schema:
        """The output schema of a partition with no rows (no prediction to learn it from)."""
        import pyarrow as pa

        schema = partition.schema(self.csv_types() if partition.kind == "csv" else None)
        fields = [schema.field(name) for name in self.job.keep]
        if self.job.method == "predict_proba":
            labels = self._classes or []
            fields += [pa.field(f"proba_{label}", pa.float64()) for label in labels]
            return pa.schema(fields)
        return pa.schema([*fields, pa.field("prediction", self._prediction_type())])

    def _prediction_type(self) -> pa.DataType:
        import numpy as np
        import pyarrow as pa

        signature = self.predictor.signature
        if signature is not None and len(signature.outputs) == 1:
            dtype = signature.outputs[0].dtype
            if dtype == "string":
                return pa.string()
            try:
                return pa.from_numpy_dtype(np.dtype(dtype))
            except (TypeError, pa.ArrowException):
                pass
        return pa.float64()

    def _prediction_columns(self, output: Any, rows: int) -> dict[str, Any]:
        """The model's output as named Arrow arrays (see the module docs for the names)."""
        import numpy as np
        import pandas as pd
        import pyarrow as pa

        proba = self.job.method == "predict_proba"
        prefix = "proba" if proba else "prediction"
        flat = False
        if isinstance(output, pd.DataFrame):
            labels = [str(column) for column in output.columns]
            arrays = [pa.Array.from_pandas(output[column]) for column in output.columns]
        else:
            values = output.to_numpy() if isinstance(output, pd.Series) else np.asarray(output)
            flat = values.ndim == 1
            if flat:
                values = values.reshape(-1, 1)
            if values.ndim != 2:
                raise Conflict(
                    f"the model's {self.job.method} returned an array of shape {values.shape}; "
                    "batch scoring writes one or two dimensions"
                )
            count = values.shape[1]
            classes = self._classes if proba and len(self._classes or ()) == count else None
            labels = classes or [str(index) for index in range(count)]
            arrays = [pa.array(values[:, index]) for index in range(count)]
        for array in arrays:
            if len(array) != rows:
                raise Conflict(
                    f"the model's {self.job.method} returned {len(array)} rows for {rows}; "
                    "it must return one per input row"
                )
        # One column of predictions is `prediction`; probabilities are per class unless flat.
        if flat if proba else len(arrays) == 1:
            return {prefix: arrays[0]}
        return {f"{prefix}_{label}": array for label, array in zip(labels, arrays, strict=True)}


def _classes(predictor: Predictor) -> list[str] | None:
    """The class labels of a classifier, as text (``classes_``, or the manifest's record)."""
    found = getattr(predictor.native, "classes_", None)
    if found is None:
        found = predictor.manifest.flavor_options.get("classes")
    if found is None:
        return None
    return [str(label) for label in list(found)]


def write_part(
    scorer: Scorer, partition: Partition, path: Path, done: RowsDone | None = None
) -> tuple[int, int]:
    """Score one partition into its own Parquet file at ``path``; ``(rows, chunks)``."""
    writer = TableWriter(path)
    try:
        chunks = scorer.write_partition(partition, writer, done)
        writer.close(scorer.empty_schema(partition) if writer.rows == 0 else None)
    except BaseException:
        writer.abort()
        raise
    return writer.rows, chunks


def iter_parts(paths: list[Path]) -> Iterator[pa.Table]:
    """The rows of part files, a row group at a time (to merge them into one file)."""
    import pyarrow.parquet as pq

    for path in paths:
        file = pq.ParquetFile(path)
        try:
            for index in range(file.num_row_groups):
                yield file.read_row_group(index)
        finally:
            file.close()
