"""``POST /v1/models/{name}/predict`` over real HTTP: every body form, bad input, failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiln.server.background import BackgroundServer
from kiln.serving import ModelSpec, create_app
from tests.serving.conftest import serving, wait_ready


def test_every_body_form_gives_the_models_own_predictions(
    classifier: tuple[Path, Any, Any],
) -> None:
    folder, model, frame = classifier
    rows = frame.head(7)
    expected = model.predict(rows).tolist()
    proba = model.predict_proba(rows)
    records = rows.to_dict("records")
    bodies = [
        {"records": records},
        {"dataframe_records": records},
        {"columns": {name: rows[name].tolist() for name in rows.columns}},
        {"inputs": {name: rows[name].tolist() for name in rows.columns}},
        {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}},
        {"instances": rows.values.tolist()},
        {"instances": records},
        records,  # a bare list is read as instances
    ]
    with serving([str(folder)]) as client:
        for body in bodies:
            response = client.post("/v1/models/hgb/predict", json=body)
            assert response.status_code == 200, body if isinstance(body, list) else list(body)
            answer = response.json()
            assert answer["predictions"] == expected
            assert answer["model"] == "hgb"
            assert response.headers["x-request-id"] == answer["request_id"]
        probabilities = client.post(
            "/v1/models/hgb/predict", json={"records": records, "method": "predict_proba"}
        ).json()["predictions"]
        np.testing.assert_allclose(probabilities, proba, rtol=1e-12)
        # The columns are reordered and cast by the signature: ints into float features pass.
        shuffled = {name: [1] for name in reversed(rows.columns)}
        assert client.post("/v1/models/hgb/predict", json={"columns": shuffled}).status_code == 200
        echoed = client.post(
            "/v1/models/hgb/predict", json={"records": records}, headers={"x-request-id": "r-1"}
        )
        assert echoed.json()["request_id"] == "r-1"


def _error(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error_code"]
    assert body["message"]
    assert body["request_id"]
    assert "Traceback" not in response.text
    if field is not None:
        assert body.get("field") == field, body
    return body


def test_bad_input_is_a_4xx_naming_the_field(scorer: Path) -> None:
    good = {"amount": 1.5, "count": 2, "city": "x"}
    spec = ModelSpec(str(scorer), name="scorer", allow_pickle=True)
    with serving([spec], max_body_bytes=4096) as client:

        def post(body: Any = None, **kwargs: Any) -> Any:
            if body is not None:
                kwargs["json"] = body
            return client.post("/v1/models/scorer/predict", **kwargs)

        assert post({"records": [good]}).json()["predictions"] == [5.0]
        _error(post(content=b"{not json"), 400, "body")
        _error(post(content=b'{"records": [{"amount": NaN}]}'), 400, "body")
        _error(post({"records": [{"amount": 1.5, "count": 2}]}), 400, "city")
        _error(post({"records": [{**good, "extra": 1}]}), 400, "extra")
        _error(post({"records": [{**good, "amount": "lots"}]}), 400, "amount")
        _error(post({"records": [{**good, "count": 2.5}]}), 400, "count")
        _error(post({"records": [{**good, "count": None}]}), 400, "count")
        _error(post({"records": [{**good, "city": 7}]}), 400, "city")
        _error(post({"records": []}), 400, "records")
        _error(post({"records": [good], "columns": {}}), 400, "body")
        _error(post({"rows": [good]}), 400, "body")
        _error(post({"records": [good], "colour": "red"}), 400, "colour")
        _error(post({"records": [good], "method": "predict_proba"}), 400, "method")
        _error(post({"columns": {"amount": [1.0, 2.0], "count": [1], "city": ["a"]}}), 400)
        _error(post({"instances": [[1.0, 2]]}), 400, "instances[0]")
        _error(post({"records": [good] * 200}), 413, "body")
        _error(client.post("/v1/models/nobody/predict", json={"records": [good]}), 404, "name")
        # A null amount is a missing float: NaN, which this model takes.
        nan = post({"records": [{**good, "amount": None}]})
        assert nan.status_code == 200
        assert nan.json()["predictions"] == [None]


def test_a_model_that_raises_is_a_500_with_the_request_id_and_the_server_stays_up(
    scorer: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with serving([ModelSpec(str(scorer), name="scorer", allow_pickle=True)]) as client:
        failed = client.post(
            "/v1/models/scorer/predict",
            json={"records": [{"amount": 13.0, "count": 1, "city": "x"}]},
            headers={"x-request-id": "boom-1"},
        )
        body = _error(failed, 500)
        assert body["request_id"] == "boom-1"
        assert "ValueError" in body["message"]
        assert any("boom-1" in record.getMessage() for record in caplog.records)
        fine = client.post(
            "/v1/models/scorer/predict",
            json={"records": [{"amount": 1.0, "count": 1, "city": "x"}]},
        )
        assert fine.json()["predictions"] == [3.0]
        metrics = client.get("/metrics").text
        assert 'kiln_errors_total{kind="model_error",model="scorer",route="predict"' in metrics


def test_readiness_is_false_with_the_reason_when_a_model_cannot_load(
    classifier: tuple[Path, Any, Any], tmp_path: Path
) -> None:
    import httpx

    app = create_app([str(classifier[0]), str(tmp_path / "missing")])
    with BackgroundServer(app) as url, httpx.Client(base_url=url) as client:
        ready = wait_ready(client)
        assert ready.status_code == 503
        assert "missing" in ready.json()["error"]
        assert client.get("/v2/health/live").status_code == 200
        refused = client.post("/v1/models/hgb/predict", json={"records": [{"f0": 1.0}]})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert "still loading" in refused.json()["message"]


def test_the_list_of_served_models(classifier: tuple[Path, Any, Any], scorer: Path) -> None:
    spec = ModelSpec(str(scorer), name="scorer", allow_pickle=True)
    with serving([str(classifier[0]), spec]) as client:
        listed = client.get("/v1/models").json()
    assert listed["ready"] is True
    by_name = {model["name"]: model for model in listed["models"]}
    assert set(by_name) == {"hgb", "scorer"}
    assert by_name["hgb"]["methods"] == ["predict", "predict_proba"]
    assert by_name["scorer"]["methods"] == ["predict"]
    assert by_name["scorer"]["flavor"] == "python_function"
    assert [i["name"] for i in by_name["scorer"]["inputs"]] == ["amount", "count", "city"]
    assert by_name["hgb"]["load_seconds"] > 0


def test_two_models_under_one_name_are_refused(classifier: tuple[Path, Any, Any]) -> None:
    import httpx

    app = create_app([str(classifier[0]), str(classifier[0])])
    with BackgroundServer(app) as url, httpx.Client(base_url=url) as client:
        ready = wait_ready(client)
    assert ready.status_code == 503
    assert "give one a name" in ready.json()["error"]
