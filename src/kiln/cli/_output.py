"""Printing for the CLI: rich tables for people, JSON for scripts, errors without tracebacks."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table

from kiln.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    KilnError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)

console = Console()
err_console = Console(stderr=True)

#: Exit code of each error class (subclasses resolve through their MRO). 2 is Typer's usage error.
EXIT_CODES: dict[type[KilnError], int] = {
    KilnError: 1,
    NotFound: 3,
    AlreadyExists: 4,
    Conflict: 5,
    InvalidInput: 6,
    PermissionDenied: 7,
    Unauthenticated: 8,
    Unavailable: 9,
}


def exit_code_of(error: KilnError) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def print_error(error: KilnError) -> None:
    err_console.print(f"[bold red]error:[/] {error.message}", highlight=False, markup=True)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def print_json(value: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(_jsonable(value), option=orjson.OPT_INDENT_2).decode() + "\n")


def print_records(
    records: Sequence[Any], columns: Iterable[str], *, title: str | None = None, as_json: bool
) -> None:
    """Dataclass records as a table (or a JSON list with ``--json``)."""
    if as_json:
        print_json(list(records))
        return
    columns = list(columns)
    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column.replace("_", " "))
    for item in records:
        table.add_row(*(_cell(getattr(item, column)) for column in columns))
    console.print(table)


def print_record(record: Any, *, as_json: bool) -> None:
    """One dataclass record as ``field: value`` lines (or JSON)."""
    if as_json:
        print_json(record)
        return
    for field in dataclasses.fields(record):
        console.print(
            f"[bold]{field.name}[/]: {_cell(getattr(record, field.name))}", highlight=False
        )


def parse_time(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time from the command line; without a zone it is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is not an ISO 8601 time, e.g. 2026-05-01 or 2026-05-01T12:00Z",
            field=option,
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
