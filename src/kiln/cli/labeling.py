"""``kiln labeling``: labeling projects: create, list, show, tasks, agreement, export, delete.

People answer tasks in the web UI (``/labeling/<name>/label``) or through
``/api/v1/labeling``; these commands make a project from a dataset version
and a schema file (JSON or YAML), say how far it got, and export the labels
as a dataset version or a JSON Lines / CSV file, page by page; with
``--background`` the dataset export runs as a tracked job (``kiln jobs``).
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json
from kiln.errors import InvalidInput

if TYPE_CHECKING:
    from kiln.labeling import LabelingProject, Task
    from kiln.labeling._schema import LabelSchema

NAME = "labeling"
HELP = "Labeling projects: create from a dataset, list, show, tasks, agreement, export, delete."
app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of text.")
STATUSES = ("open", "complete", "reviewed")


def current_user() -> str:
    """Who runs the command (recorded as the creator or exporter); empty when unknown."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _schema_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InvalidInput(f"cannot read the schema {path}: {error}", field="schema") from None
    if not isinstance(loaded, dict):
        raise InvalidInput(
            f"the schema {path} must be a mapping (task_type, labels, …)", field="schema"
        )
    return loaded


def _label_text(schema: LabelSchema, task: Task, label: Any) -> str:
    if label is None:
        return "-"
    if schema.task_type == "multilabel":
        return ", ".join(label) or "(none)"
    if schema.task_type == "ner":
        text = str(task.data.get(schema.text_field or "", ""))
        return "; ".join(f"{text[s['start'] : s['end']]!r} {s['label']}" for s in label) or "(none)"
    return str(label)


def _progress(found: LabelingProject) -> str:
    counts = found.counts
    done = counts.get("complete", 0) + counts.get("reviewed", 0)
    return f"{done}/{counts.get('tasks', 0)}"


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    schema: Path = typer.Option(..., "--schema", help="The label schema, a JSON or YAML file."),
    dataset: str | None = typer.Option(
        None, "--dataset", help="A dataset version (name@3) whose rows become the tasks."
    ),
    overlap: int = typer.Option(1, "--overlap", help="Answers each task needs."),
    key_column: str | None = typer.Option(
        None, "--key-column", help="The column that names each row (default: its number)."
    ),
    gold_column: str | None = typer.Option(
        None, "--gold-column", help="A column of known answers: those rows are gold tasks."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Only the dataset's first rows."),
    description: str = typer.Option("", "--description", help="What the project is for."),
    webhook: list[str] = typer.Option(
        [], "--webhook", help="A URL told about events (repeat the option for more)."
    ),
    as_json: bool = JSON,
) -> None:
    """Create a labeling project; with --dataset its rows become the tasks."""
    from kiln.labeling._ui_support import create_with_items

    kiln = context(ctx)
    made = create_with_items(
        kiln,
        kiln.settings.project,
        name,
        _schema_file(schema),
        dataset=dataset,
        overlap=overlap,
        description=description,
        webhooks=webhook,
        key_column=key_column,
        gold_column=gold_column,
        limit=limit,
        user=current_user(),
    )
    if as_json:
        print_json(made.to_dict())
        return
    console.print(
        f"created labeling project {made.name} ({made.schema.task_type}, "
        f"{made.counts.get('tasks', 0)} tasks, {made.overlap} answer(s) each)",
        highlight=False,
    )
    console.print(f"label it at /labeling/{made.name}/label on `kiln server`", highlight=False)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List the project's labeling projects with their progress."""
    from rich.table import Table

    from kiln.labeling._projects import list_projects

    kiln = context(ctx)
    found = kiln.db.read(list_projects, kiln.settings.project)
    if as_json:
        print_json([p.to_dict() for p in found])
        return
    table = Table(header_style="bold")
    for column in ("name", "task", "labelled", "open", "needs review", "overlap", "source"):
        table.add_column(column)
    for item in found:
        table.add_row(
            item.name,
            f"{item.schema.task_type} / {item.schema.data_kind}",
            _progress(item),
            str(item.counts.get("open", 0)),
            str(item.counts.get("needs_review", 0)),
            str(item.overlap),
            item.source or "-",
        )
    console.print(table)
    if not found:
        console.print("no labeling project yet: kiln labeling create NAME --schema schema.json")


@app.command("show")
def show(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """A project's schema, overlap and tasks by status, and how many need review."""
    from kiln.labeling._projects import get_project

    kiln = context(ctx)
    found = kiln.db.read(get_project, kiln.settings.project, name)
    if as_json:
        print_json(found.to_dict())
        return
    schema = found.schema
    counts = found.counts
    console.print(
        f"[bold]labeling project {found.name}[/]: {schema.task_type} on {schema.data_kind}",
        highlight=False,
    )
    if found.description:
        console.print(found.description, highlight=False)
    keys = schema.shortcuts or ("",) * len(schema.labels)
    labels = ", ".join(f"{label} [{key}]" if key else label for label, key in zip(
        schema.labels, keys, strict=True))  # fmt: skip
    console.print(f"labels: {labels}", highlight=False)
    for what, value in (
        ("text field", schema.text_field),
        ("image field", schema.image_field),
        ("fields", ", ".join(schema.fields)),
        ("instructions", schema.instructions),
    ):
        if value:
            console.print(f"{what}: {value}", highlight=False)
    console.print(f"answers per task (overlap): {found.overlap}", highlight=False)
    console.print(f"source: {found.source or '-'}", highlight=False)
    by_status = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)
    console.print(f"tasks: {counts.get('tasks', 0)} ({by_status})", highlight=False)
    console.print(f"needs review: {counts.get('needs_review', 0)}", highlight=False)
    console.print(
        f"created {found.created_at:%Y-%m-%d %H:%M:%S}"
        + (f" by {found.created_by}" if found.created_by else ""),
        highlight=False,
    )


@app.command("tasks")
def tasks(
    ctx: typer.Context,
    name: str,
    status: str | None = typer.Option(None, "--status", help="open, complete or reviewed."),
    limit: int = typer.Option(50, "--limit", help="Tasks to show."),
    offset: int = typer.Option(0, "--offset", help="Tasks to pass over first."),
    as_json: bool = JSON,
) -> None:
    """A project's tasks by id: status, answers, label, agreement, review."""
    from rich.table import Table

    from kiln.labeling._projects import get_project
    from kiln.labeling._tasks import list_tasks

    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"--status {status!r} is not one of {', '.join(STATUSES)}", field="status"
        )
    if limit < 1 or offset < 0:
        raise InvalidInput("--limit is at least 1 and --offset at least 0", field="limit")
    kiln = context(ctx)
    project = kiln.settings.project
    schema = kiln.db.read(get_project, project, name).schema
    found, total = kiln.db.read(
        list_tasks, project, name, status=status, offset=offset, limit=limit
    )
    if as_json:
        print_json({"tasks": [t.to_dict(with_gold=True) for t in found], "total": total})
        return
    table = Table(header_style="bold")
    for column in ("task", "item", "status", "answers", "skips", "label", "agreement", "review"):
        table.add_column(column)
    for task in found:
        answers = [a for a in task.annotations if not a.skipped]
        review = "needs review" if task.needs_review else (task.reviewed_by or "-")
        table.add_row(
            str(task.id),
            task.item_key,
            task.status,
            str(len(answers)),
            str(len(task.annotations) - len(answers)),
            _label_text(schema, task, task.consensus),
            "-" if task.agreement is None else f"{task.agreement:.2f}",
            review,
        )
    console.print(table)
    shown = f"{offset + 1}-{offset + len(found)}" if found else "none"
    console.print(f"{shown} of {total}" + (f" {status}" if status else ""), highlight=False)


@app.command("agreement")
def agreement(ctx: typer.Context, name: str, as_json: bool = JSON) -> None:
    """How the annotators agree, and each annotator's answers, skips, time, gold accuracy."""
    from rich.table import Table

    from kiln.labeling._quality import agreement_report

    kiln = context(ctx)
    report = kiln.db.read(agreement_report, kiln.settings.project, name)
    if as_json:
        print_json(report.to_dict())
        return

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    console.print(
        f"tasks with answers: {report.tasks_with_answers}; "
        f"Krippendorff's alpha {number(report.krippendorff_alpha)} "
        f"({report.tasks_shared} tasks with 2+ answers); "
        f"Fleiss' kappa {number(report.fleiss_kappa)} ({report.fleiss_tasks} tasks)",
        highlight=False,
    )
    table = Table(header_style="bold")
    for column in ("annotator", "answers", "skips", "median s", "gold", "gold accuracy", "agree"):
        table.add_column(column)
    for person in report.annotators:
        table.add_row(
            person.annotator,
            str(person.answers),
            str(person.skips),
            number(person.median_seconds),
            str(person.gold_answers),
            number(person.gold_accuracy),
            number(person.pairwise_agreement),
        )
    console.print(table)
    for pair in report.cohen_kappa:
        console.print(
            f"Cohen's kappa {' / '.join(pair['annotators'])}: {number(pair['kappa'])} "
            f"on {pair['tasks']} tasks",
            highlight=False,
        )


@app.command("export")
def export(
    ctx: typer.Context,
    name: str,
    dataset: str | None = typer.Option(
        None, "--dataset", help="Register the labels as the next version of this dataset."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the labels to this .jsonl or .csv file instead."
    ),
    background: bool = typer.Option(
        False, "--background", help="Export to --dataset as a tracked job; return at once."
    ),
    as_json: bool = JSON,
) -> None:
    """Export the labelled tasks (complete or reviewed) to a dataset version or a file."""
    from kiln.labeling._export import export_dataset, export_file

    if (dataset is None) == (out is None):
        raise InvalidInput("give --dataset or --out (one of them)", field="dataset")
    if background and dataset is None:
        raise InvalidInput(
            "--background exports to a dataset: give --dataset, not --out", field="background"
        )
    kiln = context(ctx)
    project = kiln.settings.project
    if background and dataset is not None:
        from kiln.labeling._export_job import submit_export

        job = submit_export(kiln, project, name, dataset, user=current_user())
        if as_json:
            print_json(job.to_dict())
            return
        console.print(
            f"job [bold]{job.id}[/] ({job.name}) exports the labels of {name} to {dataset}; "
            f"follow it with `kiln jobs logs {job.id} --follow`",
            highlight=False,
        )
        return
    if dataset is not None:
        version = export_dataset(kiln, project, name, dataset, user=current_user())
        if as_json:
            print_json(version.to_dict())
            return
        console.print(
            f"exported {version.num_rows} labelled tasks as {version.uri}", highlight=False
        )
        return
    assert out is not None
    suffix = out.suffix.lower()
    formats = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
    if suffix not in formats:
        raise InvalidInput(
            f"--out {out} must end in .jsonl or .csv (the format follows the name)", field="out"
        )
    written = export_file(kiln, project, name, out, format=formats[suffix])  # type: ignore[arg-type]
    if as_json:
        print_json({"path": str(out), "rows": written})
        return
    console.print(f"wrote {written} labelled tasks to {out}", highlight=False)


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a labeling project with its tasks and every answer (exports stay)."""
    from kiln.labeling._projects import delete_project

    kiln = context(ctx)
    if not yes:
        typer.confirm(f"Delete labeling project {name!r}, its tasks and every answer?", abort=True)
    kiln.db.run(delete_project, kiln.settings.project, name)
    console.print(f"deleted labeling project {name}", highlight=False)
