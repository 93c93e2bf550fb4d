"""A run's files in the UI: a preview fragment per file, and the file itself.

Previews are built here from at most ``TEXT_LIMIT`` bytes (text) or the first
``TABLE_ROWS`` rows (CSV, Parquet, JSON tables) and rendered as escaped HTML,
so an artifact's content never runs in the page. The raw route serves images
inline with their own content type and every other file as an attachment of
type ``application/octet-stream``; each raw response carries
``Content-Security-Policy: sandbox`` and ``nosniff``, so an SVG opened on its
own runs no script either (the preview shows it through ``<img>``, which never
does). Paths pass Kiln's artifact path rules before anything else: ``..``,
absolute paths and the like are a 400 whatever the run.
"""

from __future__ import annotations

import codecs
import io
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from markupsafe import escape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kiln.artifacts import ArtifactStore, validate_artifact_path
from kiln.errors import KilnError
from kiln.server.deps import ContextDep
from kiln.server.errors import status_of
from kiln.server.streaming import blob_response
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import num, render
from kiln.tracking import _artifacts
from kiln.tracking._entities import RunArtifact

if TYPE_CHECKING:
    import pyarrow as pa

router = APIRouter(route_class=UiRoute)

#: Bytes of a text file a preview shows.
TEXT_LIMIT = 200 * 1024
#: Rows of a table a preview shows, and the columns beyond which it stops.
TABLE_ROWS = 100
TABLE_COLUMNS = 200
#: A table cell longer than this is cut.
CELL_CHARS = 200
#: A non-seekable Parquet file up to this size is read into memory to preview it.
PARQUET_IN_MEMORY = 64 << 20

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
TEXT_SUFFIXES = frozenset(
    [
        ".txt",
        ".md",
        ".json",
        ".yaml",
        ".yml",
        ".log",
        ".py",
        ".csv",
        ".tsv",
        ".toml",
        ".cfg",
        ".ini",
        ".diff",
        ".patch",
        ".xml",
        ".html",
        ".sh",
        ".sql",
        ".js",
        ".css",
        ".r",
        ".ipynb",
        ".jsonl",
        ".rst",
        ".tex",
        ".env",
        ".properties",
    ]
)
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".parquet": ""}
#: Every raw response: no script, no plugin, no sniffing another type into it.
RAW_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self' data:; "
    "style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-cache",
}

PathQuery = Annotated[str, Query(min_length=1, max_length=1024)]
AsQuery = Annotated[Literal["", "text"], Query(alias="as")]


@dataclass(frozen=True, slots=True)
class Table:
    """The first rows of a table as display strings; ``total_rows`` None when unknown."""

    columns: list[str]
    rows: list[list[str]]
    total_rows: int | None = None
    more_columns: int = 0


@dataclass(frozen=True, slots=True)
class Preview:
    """What the preview pane shows for one file."""

    path: str
    size: int
    kind: Literal["image", "text", "table", "binary", "empty"]
    text: str = ""
    table: Table | None = None
    truncated: bool = False
    notes: list[str] = field(default_factory=list)
    #: A table that can also be read as text (CSV, TSV, JSON).
    has_text: bool = False
    #: Text asked for instead of a table (``?as=text``).
    as_text: bool = False

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def raw_url(run_id: str, path: str, *, download: bool = False) -> str:
    query = {"path": path, **({"download": "1"} if download else {})}
    return f"/runs/{quote(run_id, safe='')}/artifacts/raw?{urlencode(query)}"


def preview_url(run_id: str, path: str, *, as_text: bool = False) -> str:
    query = {"path": path, **({"as": "text"} if as_text else {})}
    return f"/runs/{quote(run_id, safe='')}/artifacts/preview?{urlencode(query)}"


def human_size(size: int) -> str:
    """``512 B``, ``7.2 KB``, ``3.4 MB``: sizes in the tree and the preview."""
    amount = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TB"  # pragma: no cover


def suffix(path: str) -> str:
    return PurePosixPath(path).suffix.lower()


@dataclass(slots=True)
class TreeNode:
    """A folder or a file of the artifact tree; a folder's ``size`` sums its files."""

    name: str
    path: str
    size: int = 0
    files: int = 0
    children: dict[str, TreeNode] = field(default_factory=dict)
    is_file: bool = False

    @property
    def sorted_children(self) -> list[TreeNode]:
        return sorted(self.children.values(), key=lambda n: (n.is_file, n.name.lower()))


def artifact_tree(files: list[RunArtifact], limit: int) -> TreeNode:
    """The first ``limit`` files (sorted by path) as nested folders."""
    root = TreeNode("", "")
    for file in files[:limit]:
        node = root
        parts = file.path.split("/")
        for depth, part in enumerate(parts):
            node.size += file.size
            node.files += 1
            path = "/".join(parts[: depth + 1])
            node = node.children.setdefault(part, TreeNode(part, path))
        node.size, node.files, node.is_file = file.size, 1, True
    return root


def _read_up_to(handle: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` bytes, however short the reads of the underlying stream."""
    parts: list[bytes] = []
    left = limit
    while left > 0:
        chunk = handle.read(min(left, 1 << 20))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = num(value) if isinstance(value, float) else str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _arrow_table(batch: pa.RecordBatch | pa.Table, total_rows: int | None) -> Table:
    names = [str(name) for name in batch.schema.names]
    shown = names[:TABLE_COLUMNS]
    columns = [batch.column(i).to_pylist()[:TABLE_ROWS] for i in range(len(shown))]
    rows = [
        [_cell(column[r]) for column in columns] for r in range(min(batch.num_rows, TABLE_ROWS))
    ]
    return Table(shown, rows, total_rows, len(names) - len(shown))


def _parquet(store: ArtifactStore, artifact: RunArtifact) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with store.open(artifact.digest) as handle:
        source: BinaryIO = handle
        if not handle.seekable():  # Parquet's footer is at the end
            if artifact.size > PARQUET_IN_MEMORY:
                raise ValueError("the file is too large to preview from this artifact store")
            source = io.BytesIO(handle.read())
        parquet = pq.ParquetFile(source)
        batch = next(parquet.iter_batches(batch_size=TABLE_ROWS), None)
        if batch is None:
            batch = pa.RecordBatch.from_pylist([], schema=parquet.schema_arrow)
        return _arrow_table(batch, parquet.metadata.num_rows)


def _csv(store: ArtifactStore, artifact: RunArtifact, delimiter: str) -> Table:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with store.open(artifact.digest) as handle:
        reader = pcsv.open_csv(
            handle,
            read_options=pcsv.ReadOptions(block_size=1 << 20),
            parse_options=pcsv.ParseOptions(delimiter=delimiter),
        )
        batches: list[pa.RecordBatch] = []
        rows = 0
        while rows < TABLE_ROWS:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            batches.append(batch)
            rows += batch.num_rows
        table = pa.Table.from_batches(batches, schema=reader.schema)
        return _arrow_table(table, None)


def _json_table(data: Any) -> Table | None:
    """A table out of pandas' ``split`` form (MLflow's examples) or a dict of columns."""
    if isinstance(data, dict) and isinstance(data.get("dataframe_split"), dict):
        data = data["dataframe_split"]
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        rows = data["data"]
        columns = data.get("columns") or [str(i) for i in range(len(rows[0]) if rows else 0)]
        if all(isinstance(row, list) and len(row) == len(columns) for row in rows):
            return Table(
                [str(c) for c in columns][:TABLE_COLUMNS],
                [[_cell(v) for v in row[:TABLE_COLUMNS]] for row in rows[:TABLE_ROWS]],
                len(rows),
                max(len(columns) - TABLE_COLUMNS, 0),
            )
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        lengths = {len(v) for v in data.values()}
        if len(lengths) == 1:
            names = [str(k) for k in data][:TABLE_COLUMNS]
            values = list(data.values())[:TABLE_COLUMNS]
            count = lengths.pop()
            return Table(
                names,
                [[_cell(v[r]) for v in values] for r in range(min(count, TABLE_ROWS))],
                count,
                max(len(data) - TABLE_COLUMNS, 0),
            )
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        names = list(dict.fromkeys(str(k) for row in data for k in row))[:TABLE_COLUMNS]
        return Table(
            names, [[_cell(row.get(n)) for n in names] for row in data[:TABLE_ROWS]], len(data)
        )
    return None


def _text(store: ArtifactStore, artifact: RunArtifact) -> tuple[str | None, bool]:
    """The file's first ``TEXT_LIMIT`` bytes as text, and whether there is more.

    ``None`` when the bytes are not text: a NUL byte, or not UTF-8 for a file
    whose name does not say it is text.
    """
    with store.open(artifact.digest) as handle:
        data = _read_up_to(handle, TEXT_LIMIT + 1)
    truncated = len(data) > TEXT_LIMIT
    data = data[:TEXT_LIMIT]
    if b"\x00" in data[:8192]:
        return None, truncated
    known = suffix(artifact.path) in TEXT_SUFFIXES
    decoder = codecs.getincrementaldecoder("utf-8")("replace" if known else "strict")
    try:  # not final when cut: a character split at the cut is dropped, not garbled
        return decoder.decode(data, final=not truncated), truncated
    except UnicodeDecodeError:
        return None, truncated


def build_preview(store: ArtifactStore, artifact: RunArtifact, *, as_text: bool = False) -> Preview:
    """The preview of one file: an image, a table, text, or only its size."""
    path, size, ext = artifact.path, artifact.size, suffix(artifact.path)
    if size == 0:
        return Preview(path, size, "empty")
    if ext in IMAGE_TYPES:
        return Preview(path, size, "image")
    notes: list[str] = []
    if ext in TABLE_SUFFIXES and not as_text:
        try:
            if ext == ".parquet":
                return Preview(path, size, "table", table=_parquet(store, artifact))
            found = _csv(store, artifact, TABLE_SUFFIXES[ext])
            return Preview(path, size, "table", table=found, has_text=True)
        except Exception as error:  # malformed or unsupported: say so, show what we can
            notes.append(f"Could not read this file as a table: {str(error)[:300]}")
    if ext == ".parquet":
        return Preview(path, size, "binary", notes=notes)
    text, truncated = _text(store, artifact)
    if text is None:
        return Preview(path, size, "binary", notes=notes)
    as_text = as_text and (ext in TABLE_SUFFIXES or ext == ".json")
    if ext == ".json" and not truncated:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        table = None if as_text or data is None else _json_table(data)
        if table is not None:  # pandas' split form, columns, or records
            return Preview(path, size, "table", table=table, has_text=True, notes=notes)
        if data is not None and "\n" not in text.strip():  # one long line: indent it
            text = json.dumps(data, indent=2, ensure_ascii=False)
    if truncated:
        notes.append(
            f"Showing the first {TEXT_LIMIT // 1024} KB of {size:,} bytes; "
            "download the file for the rest."
        )
    return Preview(path, size, "text", text=text, truncated=truncated, notes=notes, as_text=as_text)


#: Functions the preview fragment's template calls.
HELPERS: dict[str, Any] = {"raw_url": raw_url, "preview_url": preview_url, "human_size": human_size}


def _artifact(context: ContextDep, project: str, run_id: str, path: str) -> RunArtifact:
    validate_artifact_path(path)  # before the run: a bad path is a 400 whatever the run
    return context.db.read(_artifacts.get_artifact, project, run_id, path)


@router.get("/runs/{run_id}/artifacts/preview")
def artifact_preview(
    request: Request,
    run_id: str,
    path: PathQuery,
    context: ContextDep,
    viewing: Reader,
    as_: AsQuery = "",
) -> Response:
    """The preview fragment (for the run page's preview pane); a full load goes to the page.

    In the pane, a refusal is a line of the pane (with the error's status), not a page.
    """
    partial = request.headers.get("x-kiln-partial") == "1"
    try:
        artifact = _artifact(context, viewing.project, run_id, path)
    except KilnError as error:
        if not partial:
            raise
        message = escape(error.message)
        return HTMLResponse(
            f'<p class="error-message" role="alert">{message}</p>', status_code=status_of(error)
        )
    if not partial:
        query = {"artifact": path, **({"as": as_} if as_ else {})}
        target = f"/runs/{quote(run_id, safe='')}?{urlencode(query)}#artifact-preview"
        return RedirectResponse(target, status_code=303)
    preview = build_preview(context.artifacts, artifact, as_text=as_ == "text")
    return render(request, "artifact_preview.html", None, run_id=run_id, preview=preview, **HELPERS)


def _disposition(kind: str, name: str) -> str:
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/runs/{run_id}/artifacts/raw")
def artifact_raw(
    run_id: str,
    path: PathQuery,
    context: ContextDep,
    viewing: Reader,
    download: bool = False,
) -> Response:
    """The file, streamed: images inline with their type, anything else as a download."""
    artifact = _artifact(context, viewing.project, run_id, path)
    response = blob_response(context.artifacts, artifact.digest, artifact.size)
    image = IMAGE_TYPES.get(suffix(path))
    name = path.rsplit("/", 1)[-1]
    if image and not download:
        response.headers["Content-Type"] = image
        response.headers["Content-Disposition"] = _disposition("inline", name)
    else:
        response.headers["Content-Type"] = "application/octet-stream"
        response.headers["Content-Disposition"] = _disposition("attachment", name)
    response.headers.update(RAW_HEADERS)
    return response
