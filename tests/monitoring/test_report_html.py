"""The monitoring report page of kiln.monitoring._report_html, read back with html.parser."""

from __future__ import annotations

import copy
import json
import random
import re
import subprocess
import sys
from html.parser import HTMLParser
from typing import Any

import pytest

from kiln.errors import InvalidInput
from kiln.monitoring._report_format import count, p_value, share, stat
from kiln.monitoring._report_html import render_html

HEADINGS = [
    "Windows",
    "Drift over time",
    "Feature distributions",
    "Data quality",
    "Performance over time",
    "Fairness over time",
    "Outliers over time",
    "Explanations",
    "Alerts",
]
VOID = {"meta", "input", "br", "img", "hr", "link", "wbr", "col", "source", "area", "base"}
EVIL_COLUMN = "<script>alert(1)</script>"
EVIL_CATEGORY = "\"&<>'"


class Page(HTMLParser):
    """The parts of a page the tests look at, and whether its tags balance."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.headings: dict[str, list[str]] = {"h1": [], "h2": [], "h3": []}
        self.scripts: list[tuple[dict[str, str], str]] = []
        self.styles: list[str] = []
        self.svgs: list[dict[str, str]] = []
        self._heading: tuple[str, list[str]] | None = None
        self._script: dict[str, str] | None = None
        self.feed(html)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed at the end: {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = {name: value or "" for name, value in attrs}
        self.attrs += [(tag, name, value) for name, value in found.items()]
        if "style" in found:
            self.styles.append(found["style"])
        if tag == "svg":
            self.svgs.append(found)
        if tag in self.headings:
            self._heading = (tag, [])
        if tag == "script":
            self._script = found
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value or "") for name, value in attrs]

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if self._heading is not None and tag == self._heading[0]:
            self.headings[tag].append("".join(self._heading[1]).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self.scripts.append((self._script, data))
            self._script = None
            return
        if self.stack and self.stack[-1] == "style":
            self.styles.append(data)
            return
        self.text.append(data)
        if self._heading is not None:
            self._heading[1].append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())

    def embedded(self) -> Any:
        blocks = [body for attrs, body in self.scripts if attrs.get("id") == "kiln-report"]
        assert len(blocks) == 1
        return json.loads(blocks[0])


def _column(rng: random.Random, name: str, index: int, window: int) -> dict[str, Any]:
    drift = (index + window) % 4 == 0
    base = {
        "statistic": round(rng.uniform(0.01, 0.5), 4),
        "drift": drift,
        "reference_rows": 100_000,
        "current_rows": 5_000,
    }
    if index % 3 == 2:
        values = ["a", "b", "c", "(other)"]
        return base | {
            "kind": "categorical",
            "test": "chi_square",
            "p_value": 1e-6 if drift else 0.4,
            "adjusted_p_value": 2e-6 if drift else 0.8,
            "threshold": 0.05,
            "categories": {
                "values": values,
                "reference": [rng.randint(1, 500) for _ in values],
                "current": [rng.randint(0, 50) for _ in values],
            },
        }
    bins = 10
    return base | {
        "kind": "numeric",
        "test": "wasserstein",
        "p_value": None,
        "adjusted_p_value": None,
        "threshold": 0.1,
        "histogram": {
            "edges": [float(edge) for edge in range(bins + 1)],
            "reference": [rng.randint(0, 20_000) for _ in range(bins)],
            "current": [rng.randint(0, 1_000) for _ in range(bins)],
        },
    }


def _window(rng: random.Random, window: int, columns: list[str]) -> dict[str, Any]:
    entries = {name: _column(rng, name, index, window) for index, name in enumerate(columns)}
    drifted = sum(entry["drift"] for entry in entries.values())
    score = _column(rng, "score", 0, window) | {"column": "score"}
    return {
        "start": f"2026-12-0{window + 1}T00:00:00+00:00",
        "end": f"2026-12-0{window + 2}T00:00:00+00:00",
        "rows": 5_000,
        "drift": {
            "share": drifted / len(columns),
            "drifted": drifted,
            "columns_checked": len(columns),
            "dataset_drift": drifted / len(columns) > 0.5,
            "columns": entries,
        },
        "prediction_drift": score,
        "quality": {
            "findings": [
                {
                    "column": "amount",
                    "check": "out_of_range",
                    "severity": "warning",
                    "count": 12,
                    "share": 0.0024,
                    "detail": "12 values above the reference maximum 9,999.0",
                },
                {
                    "column": None,
                    "check": "empty_window",
                    "severity": "critical",
                    "count": window,
                    "share": None,
                    "detail": "no rows in an hour",
                },
            ],
            "columns": {
                name: {
                    "null_share": 0.001 * window,
                    "reference_null_share": 0.0,
                    "min": 1.0,
                    "max": 9.0,
                    "unseen_categories": ["zz"],
                }
                for name in columns
            },
        },
        "performance": {
            "task": "classification",
            "labeled": 800,
            "unknown_label_ids": 3,
            "metrics": {"accuracy": 0.91 - 0.01 * window, "f1": 0.88, "roc_auc": None},
            "calibration": {
                "bins": [
                    {
                        "lower": b / 10,
                        "upper": (b + 1) / 10,
                        "count": 10 + b,
                        "mean_predicted": b / 10 + 0.05,
                        "fraction_positive": b / 10 + 0.03,
                    }
                    for b in range(10)
                ]
            },
        },
        "fairness": {
            "sex": {
                "groups": {
                    "F": {
                        "count": 400,
                        "selection_rate": 0.3,
                        "tpr": 0.8,
                        "fpr": 0.1,
                        "accuracy": 0.9,
                    },
                    "M": {},
                },
                "demographic_parity_difference": 0.12 + 0.01 * window,
                "demographic_parity_ratio": 0.7,
                "equalized_odds_difference": 0.09,
                "disparate_impact": 0.7,
            }
        },
        "outliers": {
            "method": "robust_z",
            "share": 0.004,
            "count": 20,
            "columns": {"amount": 0.003, "age": 0.001},
        },
    }


def _report(windows: int = 3, columns: int = 20) -> dict[str, Any]:
    rng = random.Random(9)
    names = ["amount", "age", "country"] + [f"feature_{i:02d}" for i in range(columns - 3)]
    return {
        "kiln_monitor_report": 1,
        "title": "fraud-api drift",
        "generated_at": "2026-12-03T10:00:00+00:00",
        "subject": {
            "kind": "deployment",
            "name": "fraud-api",
            "reference": {"kind": "profile", "name": "fraud-train", "rows": 100_000},
            "current": {"description": "prediction log, last 3 days", "rows": 15_000},
        },
        "settings": {"correction": "holm", "alpha": 0.05, "drift_share_threshold": 0.5},
        "windows": [_window(rng, w, names) for w in range(windows)],
        "explanations": {
            "method": "permutation",
            "importance": [
                {"feature": n, "value": 0.12 / (i + 1), "std": 0.01} for i, n in enumerate(names)
            ],
        },
        "alerts": [
            {
                "id": 3,
                "title": "drift share 0.4 > 0.3",
                "severity": "critical",
                "status": "OPEN",
                "created_at": "2026-12-03T09:00:00+00:00",
                "rule": "drift.share > 0.3",
                "value": 0.4,
            },
            {
                "id": 2,
                "title": "null share",
                "severity": "warning",
                "status": "RESOLVED",
                "created_at": "2026-12-02T09:00:00+00:00",
                "rule": "quality.findings > 0",
                "value": 2,
            },
        ],
    }


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return _report()


@pytest.fixture(scope="module")
def page(report: dict[str, Any]) -> Page:
    return Page(render_html(report))


def test_realistic_report_renders_every_section(page: Page) -> None:
    assert page.errors == []
    assert page.headings["h1"] == ["fraud-api drift"]
    assert page.headings["h2"] == HEADINGS
    text = page.all_text
    assert "deployment · fraud-api" in text
    assert "profile · fraud-train · 100,000 rows" in text
    assert "1 open alert." in text


def test_every_feature_gets_a_chart_drifted_first(page: Page, report: dict[str, Any]) -> None:
    latest = report["windows"][-1]["drift"]["columns"]
    cards = [v for tag, name, v in page.attrs if tag == "article" and name == "data-column"]
    assert sorted(cards) == sorted([*latest, "score"])
    verdicts = [latest[c]["drift"] if c in latest else True for c in cards]
    assert verdicts == sorted(verdicts, reverse=True)
    assert any(h.startswith("score (prediction)") for h in page.headings["h3"])


def test_two_series_differ_by_pattern_not_only_colour(page: Page) -> None:
    patterns = [v for tag, name, v in page.attrs if tag == "pattern" and name == "id"]
    assert patterns == ["kiln-hatch"]
    fills = [v for tag, name, v in page.attrs if tag in ("polygon", "rect") and name == "fill"]
    assert "url(#kiln-hatch)" in fills
    assert "reference (hatched, outlined)" in page.all_text


def test_several_windows_give_trend_charts_and_a_heat_map(page: Page) -> None:
    labels = [v for tag, name, v in page.attrs if name == "aria-label"]
    assert "Share of drifted columns per window" in labels
    assert "accuracy per window" in labels
    assert "Parity differences of sex" in labels
    assert "Share of outlying rows per window" in labels
    cells = {v for tag, name, v in page.attrs if tag == "td" and name == "class"}
    assert {"cell drift", "cell ok"} <= cells
    assert "Drift statistic per column and window" in page.all_text


def test_charts_are_labelled_for_screen_readers(page: Page) -> None:
    charts = [attrs for attrs in page.svgs if attrs.get("aria-hidden") != "true"]
    assert len(charts) > 20
    for attrs in charts:
        assert attrs.get("role") == "img"
        assert attrs.get("aria-label", "").strip()
    assert ("html", "lang", "en") in page.attrs
    assert ("meta", "name", "viewport") in page.attrs
    scopes = [v for tag, name, v in page.attrs if tag == "th" and name == "scope"]
    assert {"col", "row"} == set(scopes)


def test_no_network_resource(page: Page) -> None:
    for tag, name, value in page.attrs:
        if name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
            assert value.startswith("#"), (tag, name, value)
    assert not {"link", "img", "iframe", "object", "embed"} & set(page.tags)
    assert all("src" not in attrs for attrs, _ in page.scripts)
    for style in page.styles:
        assert "@import" not in style
        assert all(u.startswith("#") for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", style))
    for tag, _, value in page.attrs:
        for url in re.findall(r"url\(\s*['\"]?([^)'\"]*)", value):
            assert url.startswith("#"), (tag, value)


def test_user_text_is_escaped() -> None:
    report = _report(windows=2, columns=4)
    for window in report["windows"]:
        columns = window["drift"]["columns"]
        columns[EVIL_COLUMN] = copy.deepcopy(columns.pop("country"))
        columns[EVIL_COLUMN]["categories"]["values"][0] = EVIL_CATEGORY
        window["quality"]["findings"][0]["detail"] = EVIL_COLUMN
    report["title"] = "<b>bold</b> & </title>"
    report["alerts"][0]["title"] = EVIL_CATEGORY
    html = render_html(report)
    page = Page(html)
    assert page.errors == []
    assert EVIL_COLUMN not in html
    assert "<b>" not in html
    assert html.count("<script") == 2
    assert page.headings["h1"] == ["<b>bold</b> & </title>"]
    assert any(h.startswith(EVIL_COLUMN) for h in page.headings["h3"])
    assert EVIL_CATEGORY in page.all_text
    assert "&quot;&amp;&lt;&gt;&#x27;" in html
    assert page.embedded() == report


def test_embedded_json_parses_back_equal(page: Page, report: dict[str, Any]) -> None:
    assert page.embedded() == report


def test_embedded_json_cannot_end_its_block() -> None:
    report = {"kiln_monitor_report": 1, "title": "</script><!-- <script>x</script> & more"}
    html = render_html(report)
    block = html.split('id="kiln-report">', 1)[1].split("</script>", 1)[0]
    assert not {"<", ">", "&"} & set(block)
    assert "\\u003c/script\\u003e\\u003c!--" in block
    assert Page(html).embedded() == report


def test_non_finite_numbers_are_null_in_the_json_and_dashes_on_the_page() -> None:
    report = _report(windows=1, columns=3)
    entry = report["windows"][0]["drift"]["columns"]["amount"]
    entry["statistic"] = float("nan")
    entry["threshold"] = float("inf")
    page = Page(render_html(report))
    embedded = page.embedded()["windows"][0]["drift"]["columns"]["amount"]
    assert (embedded["statistic"], embedded["threshold"]) == (None, None)
    assert "statistic — ·" in page.all_text
    assert "drift when statistic > ∞" in page.all_text


def test_zero_windows_render_with_explanations() -> None:
    page = Page(render_html({"kiln_monitor_report": 1, "windows": []}))
    assert page.errors == []
    assert page.headings["h1"] == ["Monitoring report"]
    assert page.headings["h2"] == HEADINGS
    text = page.all_text
    assert "The report has no windows" in text
    assert "No windows, so no drift results." in text
    assert "No windows, so no data-quality results." in text
    assert "No windows, so no performance results" in text
    assert "The report has no feature importances." in text
    assert "The report carries no alert information." in text
    assert "Subject not given" in text


def test_missing_sections_are_named() -> None:
    report = _report(windows=2, columns=3)
    for window in report["windows"]:
        for part in ("drift", "prediction_drift", "quality", "performance", "fairness", "outliers"):
            window[part] = None
    report["alerts"] = []
    report["explanations"] = None
    page = Page(render_html(report))
    assert page.errors == []
    text = page.all_text
    assert "No window has drift results." in text
    assert "The latest window has no drift results" in text
    assert "No window has data-quality results." in text
    assert "No window has performance results" in text
    assert "No window has fairness results." in text
    assert "No window has outlier results." in text
    assert "No alerts were raised." in text
    assert "Latest window: no drift results." in text


def test_latest_window_missing_a_section_says_so() -> None:
    report = _report(windows=2, columns=3)
    report["windows"][-1]["performance"] = None
    report["windows"][-1]["quality"] = None
    text = Page(render_html(report)).all_text
    assert "The latest window has no performance results." in text
    assert "The latest window has no data-quality results." in text
    assert "accuracy per window" in text


def test_one_window_gives_a_sorted_table_not_a_trend() -> None:
    report = _report(windows=1, columns=8)
    html = render_html(report)
    page = Page(html)
    assert page.errors == []
    assert "One window, so no trend" in page.all_text
    assert "Share of drifted columns per window" not in html
    rows = [v for tag, name, v in page.attrs if tag == "tr" and name == "data-column"]
    columns = report["windows"][0]["drift"]["columns"]
    verdicts = [columns[c]["drift"] if c in columns else True for c in rows]
    assert rows[0] == "score"
    assert verdicts == sorted(verdicts, reverse=True)


def test_null_metrics_render_as_dashes() -> None:
    report = _report(windows=1, columns=3)
    text = Page(render_html(report)).all_text
    assert "roc_auc —" in text
    assert "Performance: accuracy 0.91, f1 0.88, roc_auc —." in text


def test_malformed_counts_are_named_not_fatal() -> None:
    report = _report(windows=1, columns=3)
    entry = report["windows"][0]["drift"]["columns"]["amount"]
    entry["histogram"]["edges"] = entry["histogram"]["edges"][:-1]
    report["windows"][0]["drift"]["columns"]["age"].pop("histogram")
    report["windows"][0]["drift"]["columns"]["country"]["categories"]["current"] = ["x"] * 4
    text = Page(render_html(report)).all_text
    assert "The stored counts of amount cannot be drawn" in text
    assert "The stored counts of country cannot be drawn" in text
    assert "No histogram or category counts were stored for this column." in text


def test_output_is_deterministic(report: dict[str, Any]) -> None:
    first = render_html(report)
    assert render_html(copy.deepcopy(report)) == first
    assert "2026-12-03T10:00:00+00:00" in first


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (["not", "a", "mapping"], "report"),
        ({"kiln_monitor_report": 2}, "kiln_monitor_report"),
        ({"kiln_monitor_report": 1, "title": {1, 2}}, "report"),
    ],
)
def test_bad_documents_raise_invalid_input(bad: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        render_html(bad)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("function", "value", "text"),
    [
        (count, 100_000, "100,000"),
        (count, 5000.0, "5,000"),
        (count, None, "—"),
        (stat, 0.312345, "0.3123"),
        (stat, float("nan"), "—"),
        (stat, float("-inf"), "-∞"),
        (stat, True, "yes"),
        (p_value, 0.0123, "0.0123"),
        (p_value, 0.000123, "1.23e-04"),
        (p_value, 0.0, "0"),
        (p_value, None, "—"),
        (share, 0.0024, "0.24%"),
        (share, 0.2, "20%"),
        (share, None, "—"),
    ],
)
def test_number_formats(function: Any, value: object, text: str) -> None:
    assert function(value) == text


def test_importing_the_renderer_stays_light() -> None:
    code = (
        "import sys, kiln.monitoring._report_html; "
        "print(sorted(m for m in ('kiln.data', 'pydantic', 'numpy', 'sqlalchemy') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fields_of_the_wrong_type_do_not_break_the_page() -> None:
    report = {
        "kiln_monitor_report": 1,
        "title": 5,
        "subject": "fraud-api",
        "settings": [0.5],
        "windows": [
            None,
            {
                "drift": {"share": "high", "columns": {"a": 3, "b": {"histogram": "x"}}},
                "prediction_drift": {"drift": 1},
                "quality": {"findings": [None, "x"], "columns": {"a": None}},
                "performance": {"metrics": {"acc": "high"}, "calibration": {"bins": [3]}},
                "fairness": {"sex": 3, "age": {"groups": {"young": None}}},
                "outliers": {"columns": {"a": "x"}},
            },
        ],
        "explanations": {"importance": [None, {"feature": "a", "value": "x"}]},
        "alerts": [None, 3],
    }
    page = Page(render_html(report))
    assert page.errors == []
    assert page.headings["h2"] == HEADINGS
    assert page.embedded() == report
    assert "This attribute is not in the latest window." in page.all_text
