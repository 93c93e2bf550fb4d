"""``kiln deployments``: the prediction log of a deployment, its labels and its export.

``label`` posts ground-truth labels by request id from a file; ``export``
turns the logged inputs of a time range, joined with their labels, into a
new version of a dataset for retraining. Both open the stores directly, in
the project of ``--project``. Times are ISO 8601; one without a time zone is
taken as UTC.
"""

from __future__ import annotations

import csv
import getpass
from pathlib import Path
from typing import Any

import typer

from kiln.cli._app import context
from kiln.cli._output import console, parse_time, print_json
from kiln.errors import InvalidInput, NotFound

NAME = "deployments"
HELP = (
    "Deployments: create, list, show, set-traffic, rollback; label logged predictions, "
    "export them as a dataset."
)
app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of text.")


def _cell(text: str) -> Any:
    """A CSV label cell: JSON when it reads as a number, true/false or a list, else the text."""
    import orjson

    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, bool | int | float | list) else text


def _csv_labels(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames is None or set(reader.fieldnames) != {"request_id", "label"}:
            raise InvalidInput(
                f"{path} must have the header request_id,label, got {reader.fieldnames}",
                field="file",
            )
        labels = []
        for line, row in enumerate(reader, start=2):
            if not row["label"]:
                raise InvalidInput(f"{path}:{line} has no label", field="file")
            labels.append({"request_id": row["request_id"], "label": _cell(row["label"])})
        return labels


def _read_labels(path: Path) -> Any:
    """Labels from a .csv (request_id,label), .json (object or list) or .jsonl file."""
    import orjson

    if not path.is_file():
        raise NotFound(f"label file {path} does not exist", field="file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_labels(path)
    if suffix not in (".json", ".jsonl"):
        raise InvalidInput(f"label file {path} must end in .csv, .json or .jsonl", field="file")
    try:
        if suffix == ".jsonl":
            lines = path.read_bytes().splitlines()
            return [orjson.loads(line) for line in lines if line.strip()]
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise InvalidInput(f"label file {path} is not valid JSON: {error}", field="file") from None


@app.command("label")
def label(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The deployment."),
    file: Path = typer.Option(
        ..., "--file", "-f", help="request_id,label CSV, or JSON: {id: label} or [{...}]."
    ),
    as_json: bool = JSON,
) -> None:
    """Post ground-truth labels of logged requests (a later label replaces an earlier one)."""
    from kiln.serving._predictions_labels import post_labels

    kiln = context(ctx)
    posted = kiln.db.run(post_labels, kiln.settings.project, name, _read_labels(file))
    if as_json:
        print_json(posted)
        return
    console.print(
        f"{posted.added + posted.replaced:,} labels of {name}: {posted.added:,} new, "
        f"{posted.replaced:,} replaced",
        highlight=False,
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return ""


@app.command("export")
def export(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The deployment."),
    since: str = typer.Option(..., "--since", help="Start of the range (ISO 8601, inclusive)."),
    until: str | None = typer.Option(
        None, "--until", help="End of the range (ISO 8601, exclusive); default: now."
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Dataset to add the version to; default: NAME-labeled."
    ),
    label_column: str = typer.Option("label", "--label-column", help="Name of the label column."),
    as_json: bool = JSON,
) -> None:
    """Register the logged inputs of a time range, joined with their labels, as a new version."""
    from kiln.serving._predictions_export import export_dataset

    kiln = context(ctx)
    start = parse_time(since, "--since")
    assert start is not None
    done = export_dataset(
        kiln,
        kiln.settings.project,
        name,
        since=start,
        until=parse_time(until, "--until"),
        dataset_name=dataset,
        label_column=label_column,
        created_by=_user(),
    )
    if as_json:
        print_json(done.to_dict())
        return
    console.print(
        f"{done.version.uri} ({done.version.version_id[:12]}): {done.rows:,} rows from "
        f"{done.labeled:,} labeled requests; left out {done.unlabeled:,} without a label and "
        f"{done.mismatched:,} mismatched",
        highlight=False,
    )


def _register_records() -> None:
    from kiln.cli._deployment_records import register

    register(app)


_register_records()
