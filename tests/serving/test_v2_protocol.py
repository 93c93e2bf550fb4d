"""Open Inference Protocol (V2) conformance over real HTTP: health, metadata, inference,
versions, datatypes, errors in ``{"error": …}`` bodies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kiln
from kiln import registry
from kiln.models import log_model
from kiln.serving import ModelSpec
from kiln.tracking import _fluent
from tests.serving._models import FEATURES, training_frame
from tests.serving.conftest import serving


def tensors(frame: Any, datatype: str = "FP64") -> list[dict[str, Any]]:
    return [
        {"name": name, "shape": [len(frame)], "datatype": datatype, "data": frame[name].tolist()}
        for name in frame.columns
    ]


def test_health_and_server_metadata(classifier: tuple[Path, Any, Any]) -> None:
    with serving([str(classifier[0])]) as client:
        assert client.get("/v2/health/live").status_code == 200
        assert client.get("/v2/health/ready").status_code == 200
        metadata = client.get("/v2").json()
        assert metadata["name"] == "kiln"
        assert metadata["version"] == kiln.__version__
        assert metadata["extensions"] == []
        assert client.get("/v2/models/hgb/ready").status_code == 200
        missing = client.get("/v2/models/nope/ready")
        assert missing.status_code == 404
        assert "nope" in missing.json()["error"]


def test_model_metadata_comes_from_the_signature(classifier: tuple[Path, Any, Any]) -> None:
    with serving([str(classifier[0])]) as client:
        metadata = client.get("/v2/models/hgb").json()
    assert metadata["name"] == "hgb"
    assert metadata["platform"] == "sklearn"
    assert metadata["versions"] == []  # a folder, not a registered version
    assert metadata["inputs"] == [
        {"name": name, "datatype": "FP64", "shape": [-1]} for name in FEATURES
    ]
    assert metadata["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]},
    ]


def test_inference_with_flat_nested_and_column_tensors(classifier: tuple[Path, Any, Any]) -> None:
    folder, model, frame = classifier
    rows = frame.head(5)
    expected = model.predict(rows)
    with serving([str(folder)]) as client:
        answer = client.post("/v2/models/hgb/infer", json={"id": "q1", "inputs": tensors(rows)})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model_name"] == "hgb"
        assert body["id"] == "q1"
        assert "model_version" not in body
        (output,) = body["outputs"]
        assert output == {
            "name": "predict",
            "shape": [5],
            "datatype": "INT64",
            "data": expected.tolist(),
        }
        # [rows, 1] tensors with nested data, and FP32: the same predictions.
        nested = [
            {**t, "shape": [5, 1], "datatype": "FP32", "data": [[v] for v in t["data"]]}
            for t in tensors(rows)
        ]
        again = client.post("/v2/models/hgb/infer", json={"inputs": nested}).json()
        np.testing.assert_array_equal(again["outputs"][0]["data"], expected)
        # Both methods, by asking for both outputs; parameters.method asks for one.
        both = client.post(
            "/v2/models/hgb/infer",
            json={
                "inputs": tensors(rows),
                "outputs": [{"name": "predict_proba"}, {"name": "predict"}],
            },
        ).json()
        names = [o["name"] for o in both["outputs"]]
        assert names == ["predict_proba", "predict"]
        proba = both["outputs"][0]
        assert (proba["shape"], proba["datatype"]) == ([5, 2], "FP64")
        np.testing.assert_allclose(
            np.reshape(proba["data"], (5, 2)), model.predict_proba(rows), rtol=1e-12
        )
        by_parameter = client.post(
            "/v2/models/hgb/infer",
            json={"inputs": tensors(rows), "parameters": {"method": "predict_proba"}},
        ).json()
        assert [o["name"] for o in by_parameter["outputs"]] == ["predict_proba"]


def test_text_and_integer_columns(scorer: Path) -> None:
    spec = ModelSpec(str(scorer), name="scorer", allow_pickle=True)
    inputs = [
        {"name": "amount", "shape": [2], "datatype": "FP64", "data": [1.0, 2.5]},
        {"name": "count", "shape": [2], "datatype": "INT64", "data": [1, 2]},
        {"name": "city", "shape": [2], "datatype": "BYTES", "data": ["paris", "oslo"]},
    ]
    with serving([spec]) as client:
        metadata = client.get("/v2/models/scorer").json()
        assert [i["datatype"] for i in metadata["inputs"]] == ["FP64", "INT64", "BYTES"]
        body = client.post("/v2/models/scorer/infer", json={"inputs": inputs}).json()
        assert body["outputs"][0]["data"] == [3.0, 7.0]
        assert body["outputs"][0]["datatype"] == "FP64"
        # INT32 counts cast safely to the signature's int64; FP64 counts do not.
        narrow = [inputs[0], {**inputs[1], "datatype": "INT32"}, inputs[2]]
        assert client.post("/v2/models/scorer/infer", json={"inputs": narrow}).status_code == 200
        wide = [inputs[0], {**inputs[1], "datatype": "FP64", "data": [1.5, 2.0]}, inputs[2]]
        refused = client.post("/v2/models/scorer/infer", json={"inputs": wide})
        assert refused.status_code == 400
        assert "count" in refused.json()["error"]


def one(name: str = "amount", shape: Any = (1,), datatype: str = "FP64", **rest: Any) -> Any:
    return {"inputs": [{"name": name, "shape": list(shape), "datatype": datatype, **rest}]}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "inputs"),
        ({"inputs": []}, "inputs"),
        (one(), "data"),
        (one(datatype="FLOAT", data=[1]), "FP64"),
        (one(shape=(3,), data=[1, 2]), "holds 3"),
        (one(shape=(-2,), data=[]), "shape"),
        (one(datatype="BOOL", data=[1]), "BOOL"),
        (one("city", datatype="BYTES", data=[1]), "strings"),
        (one(data=[1.0]), "count"),
        (one(shape=(1, 2), data=[1, 2]), "shape"),
        ({"inputs": [{"shape": [1], "datatype": "FP64", "data": [1.0]}]}, "name"),
        ({"inputs": "x"}, "inputs"),
        ({**one(data=[1]), "id": 3}, "id"),
    ],
)
def test_bad_inference_requests_are_400_with_an_error_body(
    scorer: Path, body: dict[str, Any], words: str
) -> None:
    with serving([ModelSpec(str(scorer), name="scorer", allow_pickle=True)]) as client:
        response = client.post("/v2/models/scorer/infer", json=body)
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["error"]
    assert words in response.json()["error"]


@pytest.fixture
def registered(tmp_path: Path, sqlite_url: str) -> Iterator[str]:
    """``fraud`` v1 and v2 registered from runs; ``champion`` → v2."""
    from sklearn.linear_model import LogisticRegression

    kiln.configure(home=tmp_path / "home", database_url=sqlite_url)
    frame, labels = training_frame(200)
    try:
        for c in (0.1, 1.0):
            with kiln.start_run(experiment="serving"):
                model = LogisticRegression(C=c).fit(frame, labels)
                logged = log_model(model, "model", input_example=frame.head(3))
            registry.register_model(logged, "fraud")
        registry.set_alias("fraud", "champion", 2)
        yield "models:/fraud@champion"
    finally:
        _fluent._reset_for_tests()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


def test_a_registered_version_answers_under_its_number(registered: str) -> None:
    frame, _ = training_frame(4)
    with serving([registered]) as client:
        metadata = client.get("/v2/models/fraud").json()
        assert metadata["versions"] == ["2"]
        assert client.get("/v2/models/fraud/versions/2").status_code == 200
        other = client.get("/v2/models/fraud/versions/1")
        assert other.status_code == 404
        assert "version 2" in other.json()["error"]
        assert client.get("/v2/models/fraud/versions/2/ready").status_code == 200
        assert client.get("/v2/models/fraud/versions/1/ready").status_code == 404
        body = client.post(
            "/v2/models/fraud/versions/2/infer", json={"inputs": tensors(frame)}
        ).json()
        assert body["model_version"] == "2"
        refused = client.post("/v2/models/fraud/versions/1/infer", json={"inputs": tensors(frame)})
        assert refused.status_code == 404
        plain = client.post(
            "/v1/models/fraud/predict", json={"records": frame.to_dict("records")}
        ).json()
        assert plain["version"] == "2"
        served = client.get("/v1/models").json()["models"][0]
        assert (served["registered_model"], served["uri"]) == ("fraud", registered)
        # Moving the alias does not change what this server already loaded.
        registry.set_alias("fraud", "champion", 1)
        again = client.post("/v2/models/fraud/infer", json={"inputs": tensors(frame)}).json()
        assert again["model_version"] == "2"


def test_unknown_routes_and_methods_are_4xx(classifier: tuple[Path, Any, Any]) -> None:
    with serving([str(classifier[0])]) as client:
        assert client.get("/v2/models/hgb/infer").status_code == 405
        assert client.post("/v2/models/nope/infer", json={"inputs": []}).status_code == 404
        assert client.get("/v3").status_code == 404


def test_the_v2_routes_are_in_the_openapi_document(classifier: tuple[Path, Any, Any]) -> None:
    with serving([str(classifier[0])]) as client:
        paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v2/health/live",
        "/v2/health/ready",
        "/v2",
        "/v2/models/{name}",
        "/v2/models/{name}/versions/{version}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
        "/v1/models/{name}/predict",
        "/metrics",
    ):
        assert path in paths, path
    schema = paths["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]
    assert schema["application/json"]["schema"]["required"] == ["inputs"]
