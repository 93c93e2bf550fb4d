"""``kiln features``: apply definitions, search the catalog, describe, materialize, read online.

Every command opens the store directly, in the project of ``--project``;
definitions are read as the latest apply left them. ``materialize`` and
``online`` use the ``FeatureStore`` of the CLI's context, so they write to
and read from the online store its settings name (``online_store_url``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json
from kiln.errors import InvalidInput

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.features import FeatureStore, SkewReport

NAME = "features"
HELP = "Feature store: apply, list/search, describe, materialize, read online, check skew."
app = typer.Typer(no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


@app.command("apply")
def apply(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A Python file of definitions, or a folder of them."),
    as_json: bool = JSON,
) -> None:
    """Register the entities, feature views and services defined at PATH; print the diff."""
    import getpass

    from kiln.features._loading import load_definitions
    from kiln.features._registry import apply_definitions

    kiln = context(ctx)
    definitions = load_definitions(path)
    result = kiln.db.run(
        apply_definitions, kiln.settings.project, definitions, user=getpass.getuser()
    )
    if as_json:
        print_json(
            {
                change: [
                    {"kind": k, "name": n, "version": v} for k, n, v in getattr(result, change)
                ]
                for change in ("added", "changed", "removed", "unchanged")
            }
        )
        return
    for change, mark in (("added", "+"), ("changed", "~"), ("removed", "-")):
        for kind, name, version in getattr(result, change):
            console.print(f"{mark} {kind} {name} (v{version}) {change}", highlight=False)
    console.print(
        f"{len(result.added)} added, {len(result.changed)} changed, {len(result.removed)} "
        f"removed, {len(result.unchanged)} unchanged",
        highlight=False,
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    search: str | None = typer.Option(
        None,
        "--search",
        "-s",
        help="Words to match in names, descriptions, owners, tags, features; "
        "also owner:X, tag:K=V, kind:view, type:float64, feature:X, model:X.",
    ),
    as_json: bool = JSON,
) -> None:
    """The catalog: current entities, views and services with freshness and consumers."""
    from rich.table import Table

    from kiln.cli._features_layout import age
    from kiln.features._catalog import catalog

    kiln = context(ctx)
    found = kiln.db.read(catalog, kiln.settings.project, search)
    if as_json:
        print_json([entry.to_dict() for entry in found])
        return
    if not found:
        console.print(
            f"No definition matches {search!r}."
            if search
            else "Nothing applied yet: `kiln features apply PATH` registers definitions from code.",
            highlight=False,
        )
        return
    table = Table(header_style="bold")
    for column in ("kind", "name", "version", "owner", "detail", "freshness", "consumers"):
        table.add_column(column)
    for entry in found:
        if entry.kind == "entity":
            detail = ", ".join(f"{k}:{t}" for k, t in entry.join_keys.items())
        else:
            detail = ", ".join(
                f"{f.reference if f.view else f.name}:{f.dtype}" for f in entry.features
            )
        table.add_row(
            entry.kind,
            entry.name,
            f"v{entry.version}",
            entry.owner or "-",
            detail,
            "-" if entry.kind == "entity" else age(entry.newest_event),
            ", ".join(entry.consumers) or "-",
        )
    console.print(table)


@app.command("describe")
def describe(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A feature view, on-demand view, service or entity."),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="view, on-demand, service or entity (default: the first found, in that order).",
    ),
    as_json: bool = JSON,
) -> None:
    """Everything about one definition: schema, statistics, versions, materializations, users."""
    from kiln.cli._features_layout import print_definition
    from kiln.features._describe import describe as describe_definition

    kiln = context(ctx)
    found = kiln.db.read(describe_definition, kiln.settings.project, name, kind)
    if as_json:
        print_json(found)
        return
    print_definition(console, found)


def _moment(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"--{name} {text!r} is not an ISO 8601 time; write e.g. 2026-06-01T12:00:00+00:00",
            field=name,
        ) from None


@contextmanager
def _store(kiln: Context) -> Iterator[FeatureStore]:
    """The context's feature store, with ``kiln.get_context()`` answering the same context.

    A ``DatasetSource`` loads its dataset through the current context, which
    must be the one ``--home``/``--project`` made, not the environment's.
    """
    from kiln.context import using_context
    from kiln.features import FeatureStore

    store = FeatureStore(kiln)
    try:
        with using_context(kiln):
            yield store
    finally:
        store.close()


@app.command("materialize")
def materialize(
    ctx: typer.Context,
    views: list[str] = typer.Argument(None, help="Feature views (default: every one)."),
    start: str | None = typer.Option(
        None, "--start", help="Only events after this ISO time (default: from the beginning)."
    ),
    end: str | None = typer.Option(None, "--end", help="Events up to this ISO time (now)."),
    incremental: bool = typer.Option(
        False, "--incremental", help="Start each view where its last materialization ended."
    ),
    as_json: bool = JSON,
) -> None:
    """Copy the newest value of every entity into the online store, with a progress bar."""
    import getpass

    from rich.table import Table

    from kiln.cli._features_layout import stamp
    from kiln.features._progress import progress_bar

    kiln = context(ctx)
    low, high = _moment(start, "start"), _moment(end, "end")
    with _store(kiln) as store, progress_bar(enabled=False if as_json else None) as progress:
        done = store.materialize(
            views or None,
            start=low,
            end=high,
            incremental=incremental,
            progress=progress,
            user=getpass.getuser(),
        )
    if as_json:
        print_json([item.to_dict() for item in done])
        return
    if not done:
        console.print(
            "Nothing to materialize: nothing new since each view's watermark."
            if incremental
            else "Nothing to materialize: no feature view is applied."
        )
        return
    table = Table(header_style="bold")
    for column in ("view", "version", "window (start, end]", "rows read", "keys written"):
        table.add_column(column)
    for column in ("newest event", "seconds"):
        table.add_column(column)
    for item in done:
        table.add_row(
            item.view,
            f"v{item.view_version}",
            f"{stamp(item.start) if item.start else 'beginning'} → {stamp(item.end)}",
            f"{item.rows_read:,}",
            f"{item.keys_written:,}",
            stamp(item.newest_event),
            f"{item.seconds:.2f}",
        )
    console.print(table)


def _entity_arguments(pairs: list[str]) -> dict[str, list[str]]:
    """``KEY=V1,V2`` arguments as columns: one entity per value, keys zipped."""
    columns: dict[str, list[str]] = {}
    for pair in pairs:
        key, equals, values = pair.partition("=")
        if not equals or not key.strip():
            raise InvalidInput(
                f"{pair!r} is not KEY=VALUE; give join keys like customer_id=1 "
                "(customer_id=1,2 for two entities)",
                field="entities",
            )
        columns.setdefault(key.strip(), []).extend(v.strip() for v in values.split(","))
    if len({len(values) for values in columns.values()}) > 1:
        counts = ", ".join(f"{k}: {len(v)}" for k, v in columns.items())
        raise InvalidInput(
            f"every join key needs one value per entity; got {counts}", field="entities"
        )
    return columns


def _entities(pairs: list[str], entities: str | None) -> Any:
    import json

    if entities is not None and pairs:
        raise InvalidInput("give KEY=VALUE arguments or --entities, not both", field="entities")
    if entities is None:
        if not pairs:
            raise InvalidInput(
                "which entities? give KEY=VALUE arguments (customer_id=1,2) or --entities JSON",
                field="entities",
            )
        return _entity_arguments(pairs)
    try:
        return json.loads(entities)
    except ValueError as error:
        raise InvalidInput(f"--entities is not JSON: {error}", field="entities") from None


@app.command("online")
def online(
    ctx: typer.Context,
    pairs: list[str] = typer.Argument(
        None, metavar="[KEY=VALUE[,VALUE…]]...", help="Join keys of the entities to read."
    ),
    features: list[str] = typer.Option(
        [], "--features", "-f", help="view:feature references, comma-separated; repeatable."
    ),
    service: str | None = typer.Option(None, "--service", help="An applied feature service."),
    entities: str | None = typer.Option(
        None,
        "--entities",
        help='Entities as JSON: [{"customer_id": 1}] or {"customer_id": [1, 2]}.',
    ),
    full_names: bool = typer.Option(
        False, "--full-names", help="Name features view__feature instead of feature."
    ),
    as_json: bool = JSON,
) -> None:
    """Read the current feature values of some entities, with their status and event time."""
    from rich.table import Table

    from kiln.cli._features_layout import stamp
    from kiln.features._wire import entity_rows, join_key_types

    references = [item.strip() for value in features for item in value.split(",") if item.strip()]
    if bool(references) == (service is not None):
        raise InvalidInput(
            "give --features view:feature[,…] or --service NAME"
            + (", not both" if references else ""),
            field="features",
        )
    kiln = context(ctx)
    with _store(kiln) as store:
        wanted: list[str] | str = service if service is not None else references
        named = store.service(service).references() if service is not None else references
        rows = entity_rows(
            _entities(pairs or [], entities), join_key_types(store.definitions().views, named)
        )
        found = store.get_online_features(rows, wanted, full_feature_names=full_names)
    if as_json:
        print_json(found.to_json())
        return
    table = Table(header_style="bold")
    for column in (*found.keys, "feature", "value", "status", "event time"):
        table.add_column(column)
    colours = {"present": "green", "missing": "yellow", "expired": "red"}
    count = len(found.values[found.keys[0]]) if found.keys else 0
    for index in range(count):
        keys = [str(found.values[key][index]) for key in found.keys]
        for name in found.features:
            value = found.values[name][index]
            status = found.statuses[name][index]
            table.add_row(
                *keys,
                name,
                "-" if value is None else str(value),
                f"[{colours.get(status, 'white')}]{status}[/]",
                stamp(found.event_timestamps[name][index]),
            )
    console.print(table)


@app.command("skew")
def skew(
    ctx: typer.Context,
    views: list[str] = typer.Argument(
        None, help="Feature views (default: every one materialized or pushed to)."
    ),
    sample: int = typer.Option(100, "--sample", help="Entities compared per view."),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the sample (the same seed, the same keys)."
    ),
    tolerance: float = typer.Option(
        1e-9, "--tolerance", help="Relative tolerance for float features."
    ),
    as_json: bool = JSON,
) -> None:
    """Compare a sample of online rows with what training reads for the same keys and times.

    Prints each mismatch (value, stale, missing_online, unexpected_online) and
    a summary per view. Exits 1 when any mismatch is found, 0 when none is.
    """
    kiln = context(ctx)
    with _store(kiln) as store:
        report = store.check_skew(views or None, sample=sample, seed=seed, tolerance=tolerance)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_skew(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_skew(report: SkewReport) -> None:
    """The mismatches as a table, then one summary line per view checked or skipped."""
    from rich.table import Table

    from kiln.cli._features_layout import stamp

    if report.mismatches:
        table = Table(header_style="bold")
        for column in ("view", "key", "feature", "kind", "online", "offline"):
            table.add_column(column)
        for item in report.mismatches:
            table.add_row(
                item.view,
                ", ".join(f"{k}={v}" for k, v in item.key.items()),
                item.feature,
                f"[red]{item.kind}[/]",
                f"{item.online_value!r} @ {stamp(item.online_event_timestamp)}",
                f"{item.offline_value!r} @ {stamp(item.offline_event_timestamp)}",
            )
        console.print(table)
    for view in report.views:
        mark = f"as of {stamp(view.watermark)}" if view.watermark else "as of each newest push"
        verdict = (
            "[green]no skew[/]"
            if view.ok
            else f"[red]{len(view.mismatches)} of {view.values_compared} values differ "
            f"({view.mismatch_rate:.2%}), on {view.mismatched_keys} keys[/]"
        )
        console.print(
            f"{view.view}: {len(view.keys)} of {view.population:,} served keys compared on "
            f"{len(view.features)} features {mark}: {verdict}",
            highlight=False,
        )
    for name, reason in report.skipped.items():
        console.print(f"{name}: skipped, {reason}", highlight=False)
