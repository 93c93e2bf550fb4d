"""How ``kiln features describe`` lays one definition out for a person: rich tables.

The dictionary ``kiln.features._catalog.describe`` returns, printed as a
header of facts, then a table per part (schema, statistics, versions,
materializations, consumers), so what matters first — what the features
are, how fresh, who depends on them — is on the first screen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["age", "print_definition", "stamp"]

_MATERIALIZATIONS_SHOWN = 10


def stamp(value: datetime | None) -> str:
    """A time as ``2026-06-01 12:00:00`` UTC, or ``-``."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def age(value: datetime | None, now: datetime | None = None) -> str:
    """``3h 20m ago``-style age, or ``never``."""
    if value is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:,.4g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _ttl(seconds: Any) -> str:
    return "none (values never expire)" if seconds is None else str(timedelta(seconds=seconds))


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold")
    for column in columns:
        table.add_column(column)
    return table


def _facts(console: Console, found: Mapping[str, Any]) -> None:
    kind = str(found["kind"]).replace("_", " ")
    console.print(f"[bold]{kind} {found['name']}[/] v{found['version']}", highlight=False)
    lines = [
        ("description", found.get("description") or "-"),
        ("owner", found.get("owner") or "-"),
        ("tags", ", ".join(f"{k}={v}" for k, v in found.get("tags", {}).items()) or "-"),
        ("applied", f"{stamp(found.get('updated_at'))} by {found.get('created_by') or '-'}"),
    ]
    freshness = found.get("freshness")
    if freshness is not None:
        newest = freshness.get("newest_event")
        text = f"newest event {stamp(newest)} ({age(newest)})"
        if freshness.get("materialized_at") is not None:
            text += f", materialized {stamp(freshness['materialized_at'])}"
        if freshness.get("expired"):
            text += " [red]— older than the ttl: every online value has expired[/]"
        lines.append(("freshness", text))
    for label, value in lines:
        console.print(f"  [bold]{label}[/]: {value}", highlight=False)
    console.print()


def _schema(console: Console, found: Mapping[str, Any]) -> None:
    schema = found["schema"]
    table = _table("Schema", "column", "role", "type", "description")
    for key, dtype in schema["join_keys"].items():
        table.add_row(key, "join key", dtype, "")
    table.add_row(schema["event_timestamp"], "event time", "timestamp", "")
    if schema.get("created_timestamp"):
        table.add_row(schema["created_timestamp"], "created time", "timestamp", "ranks ties")
    for feature in schema["features"]:
        table.add_row(feature["name"], "feature", feature["dtype"], feature["description"])
    console.print(table)
    source = ", ".join(f"{k}={v}" for k, v in schema["source"].items() if v is not None)
    console.print(f"  [bold]entities[/]: {', '.join(schema['entities'])}", highlight=False)
    console.print(f"  [bold]source[/]: {source}", highlight=False)
    console.print(f"  [bold]ttl[/]: {_ttl(schema.get('ttl_seconds'))}", highlight=False)
    console.print()


def _on_demand(console: Console, found: Mapping[str, Any]) -> None:
    schema = found["schema"]
    table = _table("Computed features", "feature", "type", "description")
    for feature in schema["features"]:
        table.add_row(feature["name"], feature["dtype"], feature["description"])
    console.print(table)
    request = ", ".join(
        f"{field['name']}:{field['dtype']}"
        for source in schema["request"]
        for field in source.get("schema", ())
    )
    transform = schema["transform"]
    console.print(f"  [bold]reads views[/]: {', '.join(schema['views']) or '-'}", highlight=False)
    console.print(f"  [bold]request fields[/]: {request or '-'}", highlight=False)
    console.print(
        f"  [bold]transformation[/]: {transform.get('name', '-')} in {transform.get('file', '-')}"
        f" (sha256 {str(transform.get('sha256', ''))[:12]})",
        highlight=False,
    )
    if found.get("services"):
        console.print(f"  [bold]in services[/]: {', '.join(found['services'])}", highlight=False)
    console.print()


def _statistics(console: Console, found: Mapping[str, Any]) -> None:
    statistics = found.get("statistics") or {}
    if not statistics:
        console.print("[bold]Statistics[/]: none yet — materialize the view to compute them\n")
        return
    title = f"Statistics (latest completed materialization, view v{found['statistics_version']})"
    table = _table(title, "feature", "type", "count", "nulls", "min", "max", "mean", "std", "other")
    for name, stats in statistics.items():
        other = ""
        if "distinct" in stats:
            other = f"~{stats['distinct']:,} distinct"
        elif "true_share" in stats:
            other = f"{_number(stats['true_share'])} true"
        table.add_row(
            name,
            stats.get("dtype", "-"),
            _number(stats.get("count")),
            _number(stats.get("nulls")),
            *(_number(stats.get(k)) for k in ("min", "max", "mean", "std")),
            other,
        )
    console.print(table)
    console.print()


def _versions(console: Console, versions: Sequence[Mapping[str, Any]]) -> None:
    table = _table("Versions (newest first)", "version", "applied", "by", "what changed")
    for item in versions:
        change = "removed" if item["removed"] else ", ".join(item["changed"]) or "first version"
        if not item["removed"] and not item["changed"] and item is not versions[-1]:
            change = "added again"
        table.add_row(
            f"v{item['version']}", stamp(item["created_at"]), item["created_by"] or "-", change
        )
    console.print(table)
    console.print()


def _materializations(console: Console, items: Sequence[Mapping[str, Any]]) -> None:
    if not items:
        console.print("[bold]Materializations[/]: none yet (`kiln features materialize`)\n")
        return
    table = _table(
        f"Materializations (newest {min(len(items), _MATERIALIZATIONS_SHOWN)} of {len(items)})",
        "id",
        "status",
        "view",
        "window (start, end]",
        "keys written",
        "rows read",
        "newest event",
        "finished",
    )
    for item in items[:_MATERIALIZATIONS_SHOWN]:
        status = item["status"]
        colour = {"COMPLETED": "green", "FAILED": "red"}.get(status, "yellow")
        table.add_row(
            str(item["id"]),
            f"[{colour}]{status}[/]",
            f"v{item['view_version']}",
            f"{stamp(item['start']) if item['start'] else 'beginning'} → {stamp(item['end'])}",
            _number(item["keys_written"]),
            _number(item["rows_read"]),
            stamp(item["newest_event"]),
            stamp(item["finished_at"]),
        )
    console.print(table)
    for item in items[:_MATERIALIZATIONS_SHOWN]:
        if item["error"]:
            console.print(f"  [red]#{item['id']}[/]: {item['error']}", highlight=False)
    console.print()


def _consumers(console: Console, consumers: Sequence[Mapping[str, Any]]) -> None:
    if not consumers:
        console.print("[bold]Consumers[/]: no registered model version records using it\n")
        return
    table = _table("Consumers (model versions trained on it)", "model version", "trained on")
    for item in consumers:
        trained = []
        for view, used in item["views"].items():
            version = used["version"]
            note = "" if used["current"] is not False else " [yellow](older version)[/]"
            trained.append(f"{view} v{version}{note}" if version is not None else view)
        if item.get("feature_service"):
            trained.insert(0, f"service {item['feature_service']}")
        table.add_row(item["uri"], ", ".join(trained) or "-")
    console.print(table)
    console.print()


def _service(console: Console, found: Mapping[str, Any]) -> None:
    table = _table("Features", "view", "feature", "type")
    for feature in found["features"]:
        table.add_row(feature.get("view", ""), feature["name"], feature["dtype"])
    console.print(table)
    views = _table("Views it reads", "view", "version", "newest event", "age")
    for view in found["views"]:
        version = "-" if view["version"] is None else f"v{view['version']}"
        views.add_row(view["name"], version, stamp(view["newest_event"]), age(view["newest_event"]))
    console.print(views)
    console.print()


def print_definition(console: Console, found: Mapping[str, Any]) -> None:
    """``describe``'s dictionary, for reading."""
    _facts(console, found)
    if found["kind"] == "feature_view":
        _schema(console, found)
        _statistics(console, found)
        if found.get("services"):
            console.print(f"  [bold]in services[/]: {', '.join(found['services'])}\n")
    elif found["kind"] == "on_demand_view":
        _on_demand(console, found)
    elif found["kind"] == "feature_service":
        _service(console, found)
    elif found["kind"] == "entity":
        keys = ", ".join(f"{k} ({t})" for k, t in found.get("join_keys", {}).items())
        console.print(f"  [bold]join keys[/]: {keys}", highlight=False)
        console.print(f"  [bold]views[/]: {', '.join(found['views']) or '-'}\n", highlight=False)
    _versions(console, found["versions"])
    if found["kind"] == "feature_view":
        _materializations(console, found["materializations"])
    _consumers(console, found["consumers"])
