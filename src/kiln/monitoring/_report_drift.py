"""The monitoring report page's drift sections: drift over time and feature distributions.

A window's drift results are its columns' entries plus, when the model's
output was tested too, the prediction's entry; :func:`entries` lists them with
a key that keeps a feature and the prediction apart even when they share a
name. Sections order them drifted first, so the page opens on what changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from kiln.monitoring import _report_svg as svg
from kiln.monitoring._report_format import (
    DASH,
    Doc,
    as_list,
    as_map,
    badge,
    cell,
    count,
    empty,
    figure,
    num,
    p_value,
    raw,
    section,
    share,
    stat,
    table,
    text_or,
    tr,
)

__all__ = ["Entry", "drift", "entries", "features"]

_PREDICTION = "prediction"

#: One drift result: a sort/identity key, the name shown, and the entry.
Entry = tuple[tuple[str, str], str, Doc]


def entries(window: Doc) -> list[Entry]:
    """The window's drift results: the prediction's first, then each column's."""
    columns = as_map(as_map(window.get("drift")).get("columns"))
    found: list[Entry] = [
        (("column", str(name)), str(name), as_map(entry)) for name, entry in columns.items()
    ]
    prediction = window.get("prediction_drift")
    if isinstance(prediction, Mapping):
        column = text_or(prediction.get("column"), "prediction")
        found.insert(0, ((_PREDICTION, column), f"{column} (prediction)", prediction))
    return found


def _order(entry: Entry) -> tuple[int, bool, str]:
    """Drifted first, then undecided, then the rest; the prediction before the features."""
    drift = entry[2].get("drift")
    rank = 0 if drift is True else 2 if drift is False else 1
    return rank, entry[0][0] != _PREDICTION, entry[1]


def _state(drift: object) -> tuple[str, str, str]:
    """A verdict's heat-map cell class, marker and words: the marker repeats the colour."""
    if drift is True:
        return "drift", "▲ ", "drift"
    if drift is False:
        return "ok", "", "no drift"
    return "unknown", "? ", "drift unknown"


def drift(windows: Sequence[Doc], labels: Sequence[str], settings: Doc) -> str:
    title = "Drift over time"
    if not windows:
        return section("drift", title, empty("No windows, so no drift results."))
    if not any(isinstance(w.get("drift"), Mapping) or w.get("prediction_drift") for w in windows):
        return section("drift", title, empty("No window has drift results."))
    if len(windows) == 1:
        found = sorted(entries(windows[0]), key=_order)
        body = _drift_table(found) if found else empty("No column was checked for drift.")
        return section(
            "drift",
            title,
            "<p>One window, so no trend: each column's test, drifted columns first.</p>" + body,
        )
    drifts = [as_map(w.get("drift")) for w in windows]
    threshold = num(settings.get("drift_share_threshold"))
    chart = svg.line_chart(
        labels,
        [("drift share", [num(d.get("share")) for d in drifts])],
        label="Share of drifted columns per window",
        y_range=(0.0, 1.0),
        guide=None if threshold is None else ("dataset drift threshold", threshold),
        percent=True,
    )
    rows = [
        tr(
            label,
            [
                cell(count(d.get("columns_checked"))),
                cell(count(d.get("drifted"))),
                cell(share(d.get("share"))),
                raw(badge(d.get("dataset_drift"))),
            ],
        )
        for label, d in zip(labels, drifts, strict=True)
    ]
    return section(
        "drift",
        title,
        figure(chart, "Share of drifted columns per window; the dashed line is the threshold.")
        + table(
            ("window", "columns checked", "drifted", "share", "dataset drift"),
            rows,
            "Drift per window",
        )
        + _heatmap(windows, labels),
    )


def _drift_table(found: Sequence[Entry]) -> str:
    rows = [
        tr(
            name,
            [
                raw(escape(text_or(e.get("kind"), DASH))),
                raw(escape(text_or(e.get("test"), DASH))),
                cell(stat(e.get("statistic"))),
                cell(p_value(e.get("p_value"))),
                cell(p_value(e.get("adjusted_p_value"))),
                cell(stat(e.get("threshold"))),
                raw(badge(e.get("drift"))),
                cell(count(e.get("reference_rows"))),
                cell(count(e.get("current_rows"))),
            ],
            column=key[1],
        )
        for key, name, e in found
    ]
    head = (
        "column",
        "kind",
        "test",
        "statistic",
        "p-value",
        "adjusted p",
        "threshold",
        "drift",
        "reference rows",
        "current rows",
    )
    return table(head, rows, "Drift per column")


def _heatmap(windows: Sequence[Doc], labels: Sequence[str]) -> str:
    """Column by window: the cell's colour and marker say drift, its text is the statistic."""
    per_window = [{key: (name, e) for key, name, e in entries(w)} for w in windows]
    names: dict[tuple[str, str], str] = {}
    for found in per_window:
        names.update((key, name) for key, (name, _) in found.items())
    if not names:
        return empty("No column was checked for drift in any window.")

    def order(key: tuple[str, str]) -> tuple[bool, int, str]:
        drifted = sum(found[key][1].get("drift") is True for found in per_window if key in found)
        return key[0] != _PREDICTION, -drifted, names[key]

    rows = []
    for key in sorted(names, key=order):
        cells = []
        for label, found in zip(labels, per_window, strict=True):
            if key not in found:
                cells.append(f'<td class="cell absent" title="not checked in {label}">{DASH}</td>')
                continue
            entry = found[key][1]
            state, mark, verdict = _state(entry.get("drift"))
            value = stat(entry.get("statistic"))
            tip = f"{names[key]}, {label}: {text_or(entry.get('test'), 'test')} {value}, {verdict}"
            cells.append(
                f'<td class="cell {state}" title="{escape(tip)}">{escape(mark + value)}</td>'
            )
        rows.append(tr(names[key], cells, column=key[1]))
    key_line = (
        '<p class="key"><span class="cell drift">▲ drift</span><span class="cell ok">no drift'
        '</span><span class="cell unknown">? unknown</span><span class="cell absent">'
        f"{DASH} not checked</span> Each cell shows its test's statistic.</p>"
    )
    return (
        "<h3>Drift per column and window</h3>"
        + key_line
        + table(("column", *labels), rows, "Drift statistic per column and window")
    )


def features(windows: Sequence[Doc]) -> str:
    title = "Feature distributions"
    latest = entries(windows[-1]) if windows else []
    if not latest:
        reason = "has no drift results" if windows else "does not exist (no windows)"
        return section(
            "features",
            title,
            empty(f"The latest window {reason}, so there are no distributions to compare."),
        )
    legend = (
        f'<ul class="legend"><li>{svg.swatch("reference")} reference (hatched, outlined)</li>'
        f"<li>{svg.swatch('current')} current (solid)</li></ul>"
    )
    cards = "".join(_card(key, name, e) for key, name, e in sorted(latest, key=_order))
    return section(
        "features",
        title,
        "<p>Latest window, reference against current data as shares of each sample's rows; "
        f'drifted columns first.</p>{legend}<div class="cards">{cards}</div>',
    )


def _card(key: tuple[str, str], name: str, entry: Doc) -> str:
    threshold, p = entry.get("threshold"), entry.get("p_value")
    adjusted = entry.get("adjusted_p_value")
    rule = (
        f"drift when p-value < {stat(threshold)}"
        if p is not None or adjusted is not None
        else f"drift when statistic > {stat(threshold)}"
    )
    facts = [
        text_or(entry.get("kind"), "kind unknown"),
        text_or(entry.get("test"), "test unknown"),
        f"statistic {stat(entry.get('statistic'))}",
        *([f"p-value {p_value(p)}"] if p is not None else []),
        *([f"adjusted p-value {p_value(adjusted)}"] if adjusted is not None else []),
        rule,
        f"rows {count(entry.get('reference_rows'))} reference / "
        f"{count(entry.get('current_rows'))} current",
    ]
    return (
        f'<article class="card" data-column="{escape(key[1])}">'
        f"<h3>{escape(name)} {badge(entry.get('drift'))}</h3>"
        f"<p>{escape(' · '.join(facts))}</p>{_distribution(name, entry)}</article>"
    )


def _distribution(name: str, entry: Doc) -> str:
    histogram, categories = entry.get("histogram"), entry.get("categories")
    if isinstance(histogram, Mapping):
        edges = _numbers(histogram.get("edges"))
        ref, cur = _shares(histogram.get("reference")), _shares(histogram.get("current"))
        chart = svg.histogram_chart(
            edges or [], ref or [], cur or [], label=f"{name}: share of rows per bin"
        )
        what = "bin"
    elif isinstance(categories, Mapping):
        values = [str(v) for v in as_list(categories.get("values"))]
        ref, cur = _shares(categories.get("reference")), _shares(categories.get("current"))
        chart = svg.category_chart(
            values, ref or [], cur or [], label=f"{name}: share of rows per category"
        )
        what = "category"
    else:
        return empty("No histogram or category counts were stored for this column.")
    if not chart:
        return empty(
            f"The stored counts of {name} cannot be drawn: they need one count per "
            f"{what} for each sample (and one more edge than bins), numbers only."
        )
    return figure(chart, f"Share of reference and current rows per {what}.")


def _numbers(value: object) -> list[float] | None:
    numbers = [num(item) for item in as_list(value)]
    return None if not numbers or None in numbers else [n for n in numbers if n is not None]


def _shares(value: object) -> list[float] | None:
    """Counts as proportions of their total; None if any is not a count."""
    counts = _numbers(value)
    if counts is None or any(c < 0 for c in counts):
        return None
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]
