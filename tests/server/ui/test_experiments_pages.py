"""The experiments list, the runs table and the compare page over real HTTP.

Paging, sorting, filtering and column choice come from the URL; bad input is
a 400 page naming the problem (never a 500), partial requests get the table
alone.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from kiln.auth import ensure_project
from kiln.config import Settings
from kiln.context import Context
from kiln.server import create_app
from kiln.server.background import BackgroundServer
from kiln.tracking import _experiments, _runs
from kiln.tracking._entities import Metric, Param

PROJECT = "default"
PARTIAL = {"X-Kiln-Partial": "1"}
RUNS = 30
LONG_HISTORY = 5000


@dataclass(frozen=True)
class Seeded:
    client: httpx.Client
    experiment: str
    other: str
    ids: dict[str, str]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """``sweep``: 30 runs (run-00 … run-29) with lr, model, seed, auc and loss; ``other``: 1 run.

    Built once for the module: every test here only reads.
    """
    home = tmp_path_factory.mktemp("experiments-pages")
    # explicit settings: a module fixture starts before the per-test environment cleanup
    settings = Settings(
        home=home, project=PROJECT, database_url=f"sqlite:///{home / 'kiln.db'}", auth=False
    )
    context = Context(settings)
    db = context.db
    db.run(ensure_project, PROJECT)
    sweep = db.run(
        _experiments.create_experiment,
        PROJECT,
        "sweep",
        description="A learning-rate sweep",
        tags={"team": "fraud"},
    ).id
    other = db.run(_experiments.create_experiment, PROJECT, "other").id
    ids = {}
    for n in range(RUNS):
        name = f"run-{n:02d}"
        run = db.run(_runs.create_run, PROJECT, sweep, name=name, start_time=1_000_000 + n)
        ids[name] = run.id
        auc = [Metric("auc", n / RUNS, step, 1000 + step) for step in range(3)]
        db.run(
            _runs.log_batch,
            PROJECT,
            run.id,
            params=[
                Param("lr", str(n / 100)),
                Param("model", "xgb" if n % 2 else "lgbm"),
                Param("seed", "7"),
            ],
            metrics=[*auc, Metric("loss", 1 - n / RUNS, 0, 1000)],
        )
    run = db.run(_runs.create_run, PROJECT, other, name="lonely", start_time=5_000_000)
    ids["lonely"] = run.id
    points = [Metric("auc", 0.5 + (i % 50) / 100, i, 2000 + i) for i in range(LONG_HISTORY)]
    points[1234] = Metric("auc", -3.0, 1234, 3234)  # a collapse the chart must keep
    for start in range(0, LONG_HISTORY, 1000):
        db.run(_runs.log_batch, PROJECT, run.id, metrics=points[start : start + 1000])
    db.run(_runs.log_batch, PROJECT, run.id, params=[Param("lr", "0.5"), Param("seed", "7")])
    server = BackgroundServer(create_app(context))
    try:
        with httpx.Client(base_url=server.start(), timeout=30) as client:
            yield Seeded(client, sweep, other, ids)
    finally:
        server.stop()
        context.close()


def _names(page: str) -> list[str]:
    """Run names of the table, in row order."""
    return re.findall(r'<a href="/runs/[0-9a-f]{32}">([^<]+)</a>', page)


def _headers(page: str) -> list[str]:
    head = page.split("<thead>", 1)[1].split("</thead>", 1)[0]
    return re.findall(r'<th scope="col"[^>]*title="(?:param|metric) ([^"]+)"', head)


def _table(seeded: Seeded, **params: object) -> httpx.Response:
    return seeded.client.get(f"/experiments/{seeded.experiment}", params=params)  # type: ignore[arg-type]


def test_the_experiments_list_counts_runs(seeded: Seeded) -> None:
    page = seeded.client.get("/experiments")
    assert page.status_code == 200, page.text
    assert "<title>Experiments · Kiln</title>" in page.text
    assert f'href="/experiments/{seeded.experiment}">sweep</a>' in page.text
    row = page.text.split(">sweep</a>", 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">30</td>' in row
    assert "A learning-rate sweep" in row
    assert "team: fraud" in row
    found = seeded.client.get("/experiments", params={"filter": "name ILIKE 'OTH%'"})
    assert ">other</a>" in found.text
    assert ">sweep</a>" not in found.text


def test_a_bad_experiments_filter_is_a_400_with_the_parsers_words(seeded: Seeded) -> None:
    page = seeded.client.get("/experiments", params={"filter": "name =="})
    assert page.status_code == 400
    assert 'role="alert"' in page.text
    assert 'aria-invalid="true"' in page.text
    assert "position" in page.text or "expected" in page.text
    token = seeded.client.get("/experiments", params={"page_token": "garbage"})
    assert token.status_code == 400


def test_the_runs_table_pages_newest_first(seeded: Seeded) -> None:
    first = _table(seeded)
    assert first.status_code == 200, first.text
    assert "<title>sweep · Kiln</title>" in first.text
    names = _names(first.text)
    assert names == [f"run-{n:02d}" for n in range(29, 4, -1)]  # 25, newest first
    assert "Runs 1 to 25 of 30 · page 1 of 2" in first.text
    assert 'rel="next"' in first.text
    second = _table(seeded, page=2)
    assert _names(second.text) == [f"run-{n:02d}" for n in range(4, -1, -1)]
    assert "Runs 26 to 30 of 30" in second.text
    assert 'rel="prev"' in second.text
    assert 'rel="next"' not in second.text
    big = _table(seeded, size=50)
    assert len(_names(big.text)) == RUNS
    past = _table(seeded, page=9)
    assert past.status_code == 200
    assert _names(past.text) == []


def test_default_columns_are_metrics_then_params(seeded: Seeded) -> None:
    page = _table(seeded).text
    assert _headers(page) == ["auc", "loss", "lr", "model", "seed"]
    row = page.split(">run-29</a>", 1)[1].split("</tr>", 1)[0]
    assert ">0.9667<" in row  # auc's latest value (29/30)
    assert ">0.29<" in row  # lr


def test_sorting_by_a_metric_or_a_param_both_ways(seeded: Seeded) -> None:
    ascending = _names(_table(seeded, order="metrics.auc ASC").text)
    assert ascending[:3] == ["run-00", "run-01", "run-02"]
    page = _table(seeded, order="metrics.auc DESC").text
    assert _names(page)[:3] == ["run-29", "run-28", "run-27"]
    auc_header = re.search(
        r'<th scope="col" data-col="metric:auc" class="num" aria-sort="(\w+)"', page
    )
    assert auc_header is not None
    assert auc_header.group(1) == "descending"
    # the header now links to the other direction, back on page 1
    assert f'href="/experiments/{seeded.experiment}?order=metrics.auc+ASC"' in page
    by_model = _names(_table(seeded, order="params.model ASC", size=50).text)
    assert by_model[:15] == [f"run-{n:02d}" for n in range(28, -1, -2)]  # lgbm, newest first
    by_name = _names(_table(seeded, order="attributes.run_name ASC").text)
    assert by_name[:2] == ["run-00", "run-01"]


def test_the_filter_narrows_and_counts(seeded: Seeded) -> None:
    page = _table(seeded, filter="metrics.auc > 0.85 and params.model = 'xgb'").text
    assert _names(page) == ["run-29", "run-27"]
    assert "Runs 1 to 2 of 2" in page
    none = _table(seeded, filter="params.model = 'nothing'").text
    assert "No run matches this filter." in none


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"filter": "metrics.auc >"}, "filter"),
        ({"filter": "params.lr < 3"}, "params"),
        ({"order": "metrics.auc SIDEWAYS"}, "SIDEWAYS"),
    ],
)
def test_a_bad_filter_or_order_is_a_400_page_with_the_message(
    seeded: Seeded, params: dict[str, str], words: str
) -> None:
    page = _table(seeded, **params)
    assert page.status_code == 400, page.text
    assert 'class="error-message" role="alert"' in page.text
    message = page.text.split('id="filter-error">', 1)[1].split("</p>", 1)[0]
    assert words.lower() in html.unescape(message).lower()
    assert "<title>sweep · Kiln</title>" in page.text  # the page, not a bare error
    partial = seeded.client.get(f"/experiments/{seeded.experiment}", params=params, headers=PARTIAL)
    assert partial.status_code == 400
    assert "<html" not in partial.text
    assert 'id="filter-error"' in partial.text


@pytest.mark.parametrize(
    ("params", "field"),
    [({"size": 7}, "size"), ({"col": "tags.x"}, "col"), ({"page": 0}, "page")],
)
def test_bad_table_parameters_are_400s(
    seeded: Seeded, params: dict[str, object], field: str
) -> None:
    page = _table(seeded, **params)
    assert page.status_code == 400
    assert field in page.text


def test_missing_or_malformed_experiments(seeded: Seeded) -> None:
    assert seeded.client.get("/experiments/999999").status_code == 404
    assert seeded.client.get("/experiments/abc").status_code == 400


def test_chosen_columns_stay_in_every_link(seeded: Seeded) -> None:
    page = seeded.client.get(
        f"/experiments/{seeded.experiment}?col=&col=params.model&col=metrics.loss"
    ).text
    assert _headers(page) == ["model", "loss"]
    assert "col=params.model&amp;col=metrics.loss" in page  # sort, size and pager links
    assert '<input type="hidden" name="col" value="params.model">' in page
    assert 'value="params.lr" >' in page or 'value="params.lr">' in page  # offered, unticked
    none = seeded.client.get(f"/experiments/{seeded.experiment}?col=").text
    assert _headers(none) == []


def test_a_partial_request_gets_the_table_alone(seeded: Seeded) -> None:
    part = seeded.client.get(
        f"/experiments/{seeded.experiment}", params={"page": 2}, headers=PARTIAL
    )
    assert part.status_code == 200
    assert "<html" not in part.text
    assert "<table" in part.text
    assert _names(part.text)[0] == "run-04"


def test_compare_draws_curves_a_parallel_chart_and_a_param_diff(seeded: Seeded) -> None:
    ids = [seeded.ids["run-03"], seeded.ids["run-20"], seeded.ids["lonely"]]
    page = seeded.client.get("/compare", params={"runs": ",".join(ids)})
    assert page.status_code == 200, page.text
    specs = {
        match.group(1): json.loads(match.group(2))
        for match in re.finditer(
            r'<script type="application/json" id="([\w-]+)-spec">(.*?)</script>', page.text, re.S
        )
    }
    assert "plotly.min.js" in page.text
    curves = [spec for name, spec in specs.items() if name.startswith("curve-")]
    assert [spec["layout"]["title"]["text"] for spec in curves] == ["auc", "loss"]
    auc = curves[0]
    assert [trace["name"] for trace in auc["data"]] == ["run-03", "run-20", "lonely"]
    assert auc["data"][0]["x"] == [0, 1, 2]
    long = auc["data"][2]["y"]
    assert len(long) <= 2000
    assert min(long) == -3.0
    assert f"downsampled from {LONG_HISTORY + 6:,}" in auc["note"]
    assert "min/max kept" in page.text
    parallel = specs["parallel"]["data"][0]
    labels = [axis["label"] for axis in parallel["dimensions"]]
    assert labels == ["run", "params.lr", "params.model", "metrics.auc"]
    diff = page.text.split('id="params-title"', 1)[1]
    assert re.search(r'<tr class="differs"><th scope="row">lr ', diff)
    assert "1 identical param" in diff  # seed
    assert ">0.2<" in diff
    assert 'href="/runs/{}"'.format(seeded.ids["lonely"]) in page.text


def test_compare_takes_repeated_runs_too(seeded: Seeded) -> None:
    page = seeded.client.get(
        "/compare", params=[("runs", seeded.ids["run-01"]), ("runs", seeded.ids["run-02"])]
    )
    assert page.status_code == 200
    assert f'href="/experiments/{seeded.experiment}">sweep</a> / Compare' in page.text


@pytest.mark.parametrize(
    ("runs", "status"),
    [
        ("", 400),
        ("only-one", 400),
        (",".join(f"{n:032x}" for n in range(21)), 400),
        ("a'b,c", 400),
        (f"{1:032x},{2:032x}", 404),
    ],
)
def test_compare_refuses_too_few_too_many_or_unknown_runs(
    seeded: Seeded, runs: str, status: int
) -> None:
    page = seeded.client.get("/compare", params={"runs": runs})
    assert page.status_code == status
    assert "<title>" in page.text


@pytest.mark.parametrize(
    ("kind", "key", "text"),
    [
        ("metric", "train/loss", "metrics.train/loss"),
        ("param", "learning rate", "params.`learning rate`"),
        ("param", "odd`key", "params.`odd``key`"),
        ("attribute", "start_time", "attributes.start_time"),
    ],
)
def test_sort_links_name_any_key_the_parser_reads_back(kind: str, key: str, text: str) -> None:
    from kiln.server.ui.pages.experiments import identifier
    from kiln.tracking._search_parse import RUNS, parse_order_by

    assert identifier(kind, key) == text  # type: ignore[arg-type]
    (term,) = parse_order_by([f"{text} DESC"], RUNS)
    assert (term.identifier.kind, term.identifier.key, term.descending) == (kind, key, True)
