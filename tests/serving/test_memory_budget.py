"""A memory budget per server: models load on first use, the least recently used unload to
stay within it, and a model the machine cannot hold is refused at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from kiln.models import save_model
from kiln.server.background import BackgroundServer
from kiln.serving import ModelSpec, create_app
from tests.serving._models import Scorer, scorer_example
from tests.serving._prometheus import metric
from tests.serving.conftest import wait_ready

ROW = {"records": [{"amount": 1.0, "count": 0, "city": "x"}]}


def scorer(folder: Path, offset: float, **infra: Any) -> str:
    info = save_model(
        Scorer(offset=offset),
        folder,
        input_example=scorer_example(),
        allow_pickle=True,
        infra={"memory_load_mb": 40, "memory_serve_mb": 40, **infra},
    )
    return str(info.path)


def specs(tmp_path: Path) -> list[ModelSpec]:
    return [
        ModelSpec(scorer(tmp_path / name, offset), name=name, allow_pickle=True)
        for name, offset in (("a", 100.0), ("b", 200.0), ("c", 300.0))
    ]


def test_models_load_on_first_use_and_the_least_recently_used_unload(tmp_path: Path) -> None:
    app = create_app(specs(tmp_path), memory_budget_mb=100)
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert wait_ready(client).status_code == 200
        assert [m["loaded"] for m in client.get("/v1/models").json()["models"]] == [False] * 3

        def ask(name: str) -> httpx.Response:
            response = client.post(f"/v1/models/{name}/predict", json=ROW)
            assert response.status_code == 200, response.text
            return response

        first = ask("a")
        assert float(first.headers["x-kiln-cold-load-ms"]) > 0
        assert first.json()["predictions"] == [102.0]
        assert "x-kiln-cold-load-ms" not in ask("a").headers  # warm now
        ask("b")
        ask("a")  # a is the most recently used: b goes first
        assert ask("c").json()["predictions"] == [302.0]
        loaded = {m["name"]: m["loaded"] for m in client.get("/v1/models").json()["models"]}
        assert loaded == {"a": True, "b": False, "c": True}
        again = ask("b")  # loads again; a is now the least recently used
        assert "x-kiln-cold-load-ms" in again.headers
        text = client.get("/metrics").text
        assert metric(text, "kiln_model_unloads_total", model="b") == 1
        assert metric(text, "kiln_model_unloads_total", model="a") == 1
        assert metric(text, "kiln_model_loads_total", model="b") == 2
        assert client.get("/v2/models/c/ready").status_code == 200
        assert client.get("/v2/models/zz/ready").status_code == 404


@pytest.mark.parametrize(
    ("infra", "words"),
    [
        ({"device": "gpu"}, "needs a GPU"),
        ({"memory_serve_mb": 500}, "memory budget of 100 MiB"),
        ({"memory_serve_mb": 10**9}, "this machine has"),
    ],
)
def test_a_model_the_server_cannot_hold_is_refused_at_start(
    tmp_path: Path, infra: dict[str, Any], words: str
) -> None:
    spec = ModelSpec(scorer(tmp_path / "big", 1.0, **infra), name="big", allow_pickle=True)
    app = create_app([spec], memory_budget_mb=100)
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        ready = wait_ready(client)
    assert ready.status_code == 503
    assert words in ready.json()["error"]


def test_a_graph_needs_what_its_models_need_together(tmp_path: Path) -> None:
    a = scorer(tmp_path / "a", 100.0)
    b = scorer(tmp_path / "b", 200.0)
    spec = tmp_path / "pair.yaml"
    spec.write_text(f"kind: ensemble\nmembers: [{a}, {b}]\ncombine: average\n")
    for budget, status in ((100, 200), (70, 503)):
        app = create_app([ModelSpec(f"graph:{spec}", allow_pickle=True)], memory_budget_mb=budget)
        with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            assert wait_ready(client).status_code == status
            if status == 200:
                answer = client.post("/v1/models/pair/predict", json=ROW)
                assert answer.json()["predictions"] == [152.0]  # (102 + 202) / 2
            else:
                assert "80 MiB" in client.get("/v2/health/ready").json()["error"]
