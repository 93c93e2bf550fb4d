"""The run page and its artifact routes over real HTTP: sections, previews, refusals, speed."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from kiln.auth import ensure_project
from kiln.context import Context
from kiln.registry import _aliases, _versions
from kiln.server.ui import _charts
from kiln.server.ui.pages import artifacts as artifact_pages
from kiln.server.ui.pages import runs as run_pages
from kiln.tracking import _artifacts, _experiments, _inputs, _runs
from kiln.tracking._entities import DatasetInput, Metric, Param, RunStatus

Serve = Callable[[object], httpx.Client]
PARTIAL = {"X-Kiln-Partial": "1"}
PROJECT = "default"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><rect/></svg>'


@dataclass(frozen=True)
class Seeded:
    client: httpx.Client
    context: Context
    run_id: str
    child_id: str


def _put(context: Context, run_id: str, path: str, data: bytes, project: str = PROJECT) -> None:
    blob = context.artifacts.put_bytes(data)
    context.db.run(_artifacts.record_artifact, project, run_id, path, blob.digest, blob.size)


def _parquet(rows: int) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"amount": [float(i) / 4 for i in range(rows)], "id": list(range(rows))})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _new_run(context: Context, name: str, *, project: str = PROJECT, **kwargs: object) -> str:
    experiment = context.db.run(_experiments.ensure_experiment, project, "ui-runs")
    run = context.db.run(_runs.create_run, project, experiment.id, name=name, **kwargs)  # type: ignore[arg-type]
    return run.id


@pytest.fixture
def seeded(make_context: Callable[..., Context], serve: Serve) -> Seeded:
    context = make_context()
    context.db.run(ensure_project, PROJECT)
    run_id = _new_run(
        context, "trainer", tags={"team": "fraud", "kiln.source.git.commit": "abc123"}
    )
    child_id = _new_run(context, "fold-1", parent_run_id=run_id)
    losses = [
        Metric("loss", 1.0 / (step + 1), step, 1_700_000_000_000 + step) for step in range(30)
    ]
    context.db.run(
        _runs.log_batch,
        PROJECT,
        run_id,
        metrics=[*losses, Metric("auc", 0.91, 0, 1_700_000_000_000)],
        params=[Param("lr", "0.01"), Param("odd", "<b>bold</b>")],
    )
    context.db.run(
        _inputs.log_inputs,
        PROJECT,
        run_id,
        [
            DatasetInput(
                "cards",
                "d1g35t",
                source_type="dataframe",
                schema=json.dumps([{"name": "amount", "type": "double"}]),
                profile=json.dumps({"rows": 10, "columns": 1}),
                context="training",
            )
        ],
    )
    files = {
        "plots/roc.png": PNG,
        "plots/evil.svg": SVG,
        "notes/readme.md": b"# Notes\n<script>alert('x')</script>\n",
        "data/sample.csv": b"a,b\n" + b"".join(f"{i},{i * 2}\n".encode() for i in range(250)),
        "data/sample.parquet": _parquet(250),
        "model/model.bin": bytes(range(256)) * 4,
        "model/kiln-model.yaml": b"format_version: 1\nflavor: sklearn\n",
        "model/input_example.json": json.dumps({"columns": ["x", "y"], "data": [[1, 2]]}).encode(),
        "page.html": b"<html><script>alert(1)</script></html>",
        "empty.txt": b"",
        "environment/python.json": json.dumps({"version": "3.11.9", "platform": "Linux"}).encode(),
        "environment/requirements.txt": b"numpy==2.0.0\npandas==2.2.2\n",
    }
    for path, data in files.items():
        _put(context, run_id, path, data)
    context.db.run(_runs.log_batch, PROJECT, run_id, tags=[("kiln.model.model", "sklearn")])
    context.db.run(
        _versions.create_model_version,
        PROJECT,
        "fraud-model",
        f"runs:/{run_id}/model",
        create_model=True,
    )
    context.db.run(_aliases.set_alias, PROJECT, "fraud-model", "champion", 1)
    context.db.run(_runs.update_run, PROJECT, run_id, status=RunStatus.FINISHED)
    return Seeded(serve(context), context, run_id, child_id)


def _preview(seeded: Seeded, path: str, **params: str) -> httpx.Response:
    return seeded.client.get(
        f"/runs/{seeded.run_id}/artifacts/preview", params={"path": path, **params}, headers=PARTIAL
    )


def test_the_page_shows_every_section(seeded: Seeded) -> None:
    page = seeded.client.get(f"/runs/{seeded.run_id}")
    assert page.status_code == 200, page.text
    html = page.text
    for section in ("overview", "params", "metrics", "artifacts", "environment", "inputs"):
        assert f'id="{section}"' in html
    assert "<title>Run trainer · Kiln</title>" in html
    assert f'href="/runs/{seeded.child_id}"' in html  # the child run
    assert "team" in html
    assert "fraud" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # params are escaped
    assert 'id="metric-chart-0"' in html  # loss has 30 points: a chart
    assert "one value" in html  # auc has one: the table only
    assert "3.11.9" in html
    assert "numpy" in html
    assert "abc123" in html
    assert "cards" in html
    assert "d1g35t" in html
    assert "10 rows, 1 columns" in html
    lineage = html[html.index('id="lineage"') :]
    assert "fraud-model v1" in lineage
    assert "@champion" in lineage
    assert 'href="/models/fraud-model/versions/1"' in lineage
    assert 'href="#input-0"' in lineage


def test_the_child_names_its_parent(seeded: Seeded) -> None:
    html = seeded.client.get(f"/runs/{seeded.child_id}").text
    assert f'href="/runs/{seeded.run_id}">trainer</a>' in html


def test_an_unknown_run_is_the_404_page(seeded: Seeded) -> None:
    response = seeded.client.get("/runs/0123456789abcdef0123456789abcdef")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Not found" in response.text
    missing = seeded.client.get(f"/runs/{'f' * 32}/artifacts/raw", params={"path": "a.txt"})
    assert missing.status_code == 404
    gone = _preview(seeded, "no/such/file.txt")  # in the pane: a line, not a whole page
    assert gone.status_code == 404
    assert gone.text.startswith('<p class="error-message" role="alert">')


def test_a_run_of_another_project_is_not_found_here(seeded: Seeded) -> None:
    seeded.context.db.run(ensure_project, "elsewhere")
    other = _new_run(seeded.context, "theirs", project="elsewhere")
    _put(seeded.context, other, "secret.txt", b"s3cret", project="elsewhere")
    assert seeded.client.get(f"/runs/{other}").status_code == 404
    raw = seeded.client.get(f"/runs/{other}/artifacts/raw", params={"path": "secret.txt"})
    assert raw.status_code == 404
    assert seeded.client.get(f"/runs/{other}", params={"project": "elsewhere"}).status_code == 200


def test_text_previews_are_escaped(seeded: Seeded) -> None:
    response = _preview(seeded, "notes/readme.md")
    assert response.status_code == 200
    assert "<html" not in response.text  # a fragment, not a page
    assert "&lt;script&gt;alert(" in response.text
    assert "<script>" not in response.text


def test_table_previews_show_the_first_rows(seeded: Seeded) -> None:
    parquet = _preview(seeded, "data/sample.parquet").text
    assert '<th scope="col">amount</th>' in parquet
    assert parquet.count("<tr>") == 101  # the header and 100 rows
    assert "100 of 250 rows" in parquet
    csv = _preview(seeded, "data/sample.csv").text
    assert csv.count("<tr>") == 101
    assert "View as text" in csv
    as_text = _preview(seeded, "data/sample.csv", **{"as": "text"}).text
    assert "<pre" in as_text
    assert "249,498" in as_text
    assert "View as table" in as_text
    example = _preview(seeded, "model/input_example.json").text
    assert '<th scope="col">x</th>' in example
    assert "1 of 1 rows" in example


def test_images_preview_through_img_and_are_served_with_their_type(seeded: Seeded) -> None:
    preview = _preview(seeded, "plots/roc.png").text
    assert '<img class="artifact-image" src="/runs/' in preview
    raw = seeded.client.get(
        f"/runs/{seeded.run_id}/artifacts/raw", params={"path": "plots/roc.png"}
    )
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "image/png"
    assert raw.content == PNG


def test_svg_never_runs_script(seeded: Seeded) -> None:
    preview = _preview(seeded, "plots/evil.svg").text
    assert "<img" in preview
    assert "alert" not in preview
    raw = seeded.client.get(
        f"/runs/{seeded.run_id}/artifacts/raw", params={"path": "plots/evil.svg"}
    )
    assert raw.headers["content-type"] == "image/svg+xml"
    assert raw.headers["content-security-policy"].startswith("sandbox")
    assert raw.headers["x-content-type-options"] == "nosniff"


def test_binary_and_empty_files_offer_a_download(seeded: Seeded) -> None:
    binary = _preview(seeded, "model/model.bin").text
    assert "No preview for this kind of file" in binary
    assert "download=1" in binary
    assert "This file is empty" in _preview(seeded, "empty.txt").text


def test_downloads_are_attachments_whatever_the_file(seeded: Seeded) -> None:
    raw = seeded.client.get(
        f"/runs/{seeded.run_id}/artifacts/raw", params={"path": "model/model.bin", "download": "1"}
    )
    assert raw.content == bytes(range(256)) * 4
    assert raw.headers["content-disposition"].startswith('attachment; filename="model.bin"')
    html = seeded.client.get(f"/runs/{seeded.run_id}/artifacts/raw", params={"path": "page.html"})
    assert html.headers["content-type"] == "application/octet-stream"  # never rendered as a page
    assert html.headers["content-disposition"].startswith("attachment")
    assert html.headers["content-security-policy"].startswith("sandbox")


def test_big_text_is_cut_with_a_note(seeded: Seeded) -> None:
    line = "0123456789" * 10 + "\n"
    _put(seeded.context, seeded.run_id, "logs/train.log", (line * 3000).encode())
    response = _preview(seeded, "logs/train.log")
    assert "Showing the first 200 KB of 303,000 bytes" in response.text
    assert len(response.text) < artifact_pages.TEXT_LIMIT + 5000


UNSAFE = [
    "../etc/passwd",
    "/etc/passwd",
    "a/../../b",
    "%2e%2e/secret",
    "a\\b",
    "C:/x",
    "a//b",
    "./a",
]


def test_unsafe_paths_are_refused_with_400(seeded: Seeded) -> None:
    for path in UNSAFE:
        for route in ("preview", "raw"):
            response = seeded.client.get(
                f"/runs/{seeded.run_id}/artifacts/{route}", params={"path": path}, headers=PARTIAL
            )
            assert response.status_code == 400, (route, path, response.text[:200])
            assert "unsafe artifact path" in response.text
        page = seeded.client.get(f"/runs/{seeded.run_id}", params={"artifact": path})
        assert page.status_code == 400, path
    # Refused before the run is looked up: an unknown run does not turn a 400 into a 404.
    unknown = seeded.client.get(f"/runs/{'0' * 32}/artifacts/raw", params={"path": "../x"})
    assert unknown.status_code == 400


def test_a_full_load_of_a_preview_goes_to_the_run_page(seeded: Seeded) -> None:
    response = seeded.client.get(
        f"/runs/{seeded.run_id}/artifacts/preview", params={"path": "notes/readme.md"}
    )
    assert response.status_code == 303
    target = response.headers["location"]
    assert target.endswith("?artifact=notes%2Freadme.md#artifact-preview")
    page = seeded.client.get(target.split("#")[0])
    assert "&lt;script&gt;alert(" in page.text
    assert 'aria-current="true"' in page.text


def test_params_filter_answers_with_the_table_alone(seeded: Seeded) -> None:
    response = seeded.client.get(
        f"/runs/{seeded.run_id}", params={"q": "LR", "part": "params"}, headers=PARTIAL
    )
    assert "<html" not in response.text
    assert ">lr<" in response.text
    assert "odd" not in response.text
    assert "1 of 2 params" in response.text


def test_charts_answer_alone_and_a_page_past_the_end_shows_the_last(seeded: Seeded) -> None:
    charts = seeded.client.get(
        f"/runs/{seeded.run_id}", params={"part": "charts", "chart_page": "99"}, headers=PARTIAL
    )
    assert charts.status_code == 200
    assert "<html" not in charts.text
    assert 'id="metric-chart-0"' in charts.text
    assert '"x":[0,1,2' in charts.text  # loss over its steps


def test_long_histories_are_downsampled_keeping_extremes() -> None:
    points = [Metric("m", float(i % 97), i, i) for i in range(50_000)]
    points[31_337] = Metric("m", -1000.0, 31_337, 31_337)
    spec = run_pages.metric_chart("m", points)
    ys = spec["data"][0]["y"]
    assert len(ys) <= _charts.MAX_POINTS
    assert min(ys) == -1000.0
    assert max(ys) == 96.0
    assert "downsampled from 50,000" in spec["note"]
    short = run_pages.metric_chart("m", points[:500])
    assert len(short["data"][0]["y"]) == 500
    assert not short["note"]


def test_time_is_the_axis_when_every_step_is_zero() -> None:
    spec = run_pages.metric_chart(
        "cpu", [Metric("cpu", v, 0, 1_700_000_000_000 + v) for v in (1, 2)]
    )
    assert spec["layout"]["xaxis"]["type"] == "date"
    assert spec["data"][0]["x"] == [1_700_000_000_001, 1_700_000_000_002]


def test_a_big_run_pages_its_charts(make_context: Callable[..., Context], serve: Serve) -> None:
    context = make_context()
    context.db.run(ensure_project, PROJECT)
    run_id = _new_run(context, "big")
    context.db.run(
        _runs.log_batch, PROJECT, run_id, params=[Param(f"p{i}", str(i)) for i in range(100)]
    )
    for first in range(0, 100, 10):  # 100 metrics of 1,000 points, 10 metrics per write
        points = [
            Metric(f"metric_{k:03d}", (k * step) % 17 / 3, step, 1_700_000_000_000 + step)
            for k in range(first, first + 10)
            for step in range(1000)
        ]
        context.db.run(_runs.log_batch, PROJECT, run_id, metrics=points)
    client = serve(context)
    response = client.get(f"/runs/{run_id}")
    assert response.status_code == 200
    assert re.fullmatch(r"app;dur=[0-9.]+", response.headers["server-timing"])
    assert response.text.count('class="metric-chart"') == run_pages.CHARTS_PER_PAGE
    assert 'rel="next"' in response.text  # the other 88 charts are a page away
