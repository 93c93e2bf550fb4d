"""Logging files to the active run: files, folders, dicts, text, figures, tables, datasets."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kiln.artifacts import validate_artifact_path
from kiln.errors import InvalidInput
from kiln.tracking._entities import DatasetInput, RunArtifact
from kiln.tracking._fluent import _target, flush


def _join(folder: str | None, name: str) -> str:
    path = f"{folder.strip('/')}/{name}" if folder else name
    return validate_artifact_path(path)


def log_artifact(
    local_path: str | os.PathLike[str],
    artifact_path: str | None = None,
    *,
    run_id: str | None = None,
) -> RunArtifact:
    """Upload a local file into the run, under the folder ``artifact_path`` (default: top)."""
    rid, tracking = _target(run_id)
    source = Path(local_path)
    if not source.is_file():
        raise InvalidInput(f"{str(source)!r} is not a file", field="local_path")
    return tracking.upload_artifact(rid, source, _join(artifact_path, source.name))


def log_artifacts(
    local_dir: str | os.PathLike[str],
    artifact_path: str | None = None,
    *,
    run_id: str | None = None,
) -> list[RunArtifact]:
    """Upload every file under a local folder, keeping the folder's layout."""
    rid, tracking = _target(run_id)
    root = Path(local_dir)
    if not root.is_dir():
        raise InvalidInput(f"{str(root)!r} is not a folder", field="local_dir")
    logged = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root).as_posix()
        logged.append(tracking.upload_artifact(rid, file, _join(artifact_path, relative)))
    return logged


@contextmanager
def _staged(artifact_file: str) -> Iterator[Path]:
    validate_artifact_path(artifact_file)
    with tempfile.TemporaryDirectory(prefix="kiln-log-") as folder:
        yield Path(folder) / Path(artifact_file).name


def _upload(local: Path, artifact_file: str, run_id: str | None) -> RunArtifact:
    rid, tracking = _target(run_id)
    return tracking.upload_artifact(rid, local, artifact_file)


def log_text(text: str, artifact_file: str, *, run_id: str | None = None) -> RunArtifact:
    with _staged(artifact_file) as local:
        local.write_text(text, encoding="utf-8")
        return _upload(local, artifact_file, run_id)


def log_dict(
    dictionary: Mapping[str, Any], artifact_file: str, *, run_id: str | None = None
) -> RunArtifact:
    """A dict as JSON, or as YAML when ``artifact_file`` ends in .yaml/.yml."""
    with _staged(artifact_file) as local:
        if local.suffix in (".yaml", ".yml"):
            import yaml

            local.write_text(yaml.safe_dump(dict(dictionary), sort_keys=False), encoding="utf-8")
        else:
            local.write_text(json.dumps(dictionary, indent=2, default=str), encoding="utf-8")
        return _upload(local, artifact_file, run_id)


def log_figure(figure: Any, artifact_file: str, *, run_id: str | None = None) -> RunArtifact:
    """A matplotlib figure (.png/.svg/.pdf) or a plotly figure (.html/.json/.png)."""
    with _staged(artifact_file) as local:
        module = type(figure).__module__
        if module.startswith("matplotlib"):
            figure.savefig(local, bbox_inches="tight")
        elif module.startswith("plotly"):
            if local.suffix == ".html":
                figure.write_html(local, include_plotlyjs=True, full_html=True)
            elif local.suffix == ".json":
                local.write_text(figure.to_json(), encoding="utf-8")
            else:
                figure.write_image(local)
        else:
            raise InvalidInput(
                f"log_figure takes a matplotlib or plotly figure, not {type(figure).__name__}",
                field="figure",
            )
        return _upload(local, artifact_file, run_id)


def log_table(data: Any, artifact_file: str, *, run_id: str | None = None) -> RunArtifact:
    """A DataFrame (pandas, or anything with ``to_pandas``) as Parquet, CSV or JSON by extension."""
    frame = _as_pandas(data)
    with _staged(artifact_file) as local:
        if local.suffix == ".parquet":
            frame.to_parquet(local, index=False)
        elif local.suffix == ".csv":
            frame.to_csv(local, index=False)
        elif local.suffix == ".json":
            frame.to_json(local, orient="records")
        else:
            raise InvalidInput(
                f"log_table writes .parquet, .csv or .json, not {artifact_file!r}",
                field="artifact_file",
            )
        return _upload(local, artifact_file, run_id)


def _as_pandas(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_pandas"):
        return data.to_pandas()
    if isinstance(data, Mapping):
        return pd.DataFrame(data)
    raise InvalidInput(f"expected a DataFrame, got {type(data).__name__}", field="data")


def dataset_input(
    data: Any, *, name: str | None = None, context: str = "", source: str = ""
) -> DatasetInput:
    """Describe a DataFrame as a dataset input: content digest, schema and shape."""
    import pandas as pd
    import pyarrow as pa

    frame = _as_pandas(data)
    hashable = frame
    zoned = [n for n, t in frame.dtypes.items() if isinstance(t, pd.DatetimeTZDtype)]
    if zoned:  # hash instants, not wall times (and avoid pandas' tz-dropping path)
        hashable = frame.assign(
            **{n: frame[n].dt.tz_convert("UTC").dt.tz_localize(None) for n in zoned}
        )
    hashed = pd.util.hash_pandas_object(hashable, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    with warnings.catch_warnings():
        # pyarrow reads tz-aware columns through Series.values, which pandas 3.1
        # deprecates; the schema it infers is right, so the warning is noise.
        warnings.filterwarnings("ignore", "Series.values returning an ndarray", DeprecationWarning)
        schema = pa.Schema.from_pandas(frame.head(0), preserve_index=False)
    digest.update(str(schema).encode())
    columns = [{"name": f.name, "type": str(f.type)} for f in schema]
    return DatasetInput(
        name=name or "dataset",
        digest=digest.hexdigest()[:32],
        source_type="dataframe" if not source else "path",
        source=source,
        schema=json.dumps(columns),
        profile=json.dumps({"rows": len(frame), "columns": len(frame.columns)}),
        context=context,
    )


def log_input(
    dataset: Any,
    *,
    name: str | None = None,
    context: str = "",
    source: str = "",
    run_id: str | None = None,
) -> DatasetInput:
    """Record that the run used a dataset (a DataFrame, or a ``DatasetInput``)."""
    described = (
        dataset
        if isinstance(dataset, DatasetInput)
        else dataset_input(dataset, name=name, context=context, source=source)
    )
    rid, tracking = _target(run_id)
    tracking.log_inputs(rid, [described])
    return described


def list_artifacts(run_id: str, path: str = "") -> list[RunArtifact]:
    from kiln.tracking._fluent import backend

    return backend().list_artifacts(run_id, path)


def download_artifacts(
    run_id: str, path: str = "", dst: str | os.PathLike[str] | None = None
) -> Path:
    """Copy a run's file, or every file under a folder, into ``dst`` (default: a temp folder).

    Returns the local path of ``path`` inside ``dst``.
    """
    from kiln.tracking._fluent import backend

    flush(run_id)
    tracking = backend()
    root = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix="kiln-artifacts-"))
    root.mkdir(parents=True, exist_ok=True)
    found = tracking.list_artifacts(run_id, path)
    if not found:
        from kiln.errors import NotFound

        raise NotFound(f"run {run_id} has no artifact at {path!r}")
    for artifact in found:
        tracking.download_artifact(run_id, artifact, root)
    return root / path if path else root
