"""``POST /v1/models/{name}/explain`` over real HTTP: TreeSHAP, the model-agnostic method
against a saved input example, the same body forms as predict, and every refusal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from kiln.context import Context, using_context
from kiln.serving import ModelSpec, create_app
from tests.serving._models import FEATURES, Scorer, save_classifier, save_scorer
from tests.serving.conftest import serving


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from kiln.models import save_model

    root = tmp_path_factory.mktemp("explain")
    hgb, model, frame = save_classifier(root / "hgb")
    bare_tree = HistGradientBoostingClassifier(max_iter=5, random_state=0)
    bare_tree.fit(frame, (frame["f0"] > 0).astype("int64"))
    save_model(bare_tree, root / "bare-tree")
    save_model(Scorer(), root / "bare-scorer", allow_pickle=True)
    return {
        "hgb": hgb,
        "model": model,
        "frame": frame,
        "scorer": save_scorer(root / "scorer"),
        "bare_tree": root / "bare-tree",
        "bare_scorer": root / "bare-scorer",
    }


@pytest.fixture(scope="module")
def client(folders: dict[str, Any]) -> Iterator[httpx.Client]:
    specs = [
        ModelSpec(str(folders["hgb"]), name="hgb"),
        ModelSpec(str(folders["scorer"]), name="scorer", allow_pickle=True),
        ModelSpec(str(folders["bare_tree"]), name="bare-tree"),
        ModelSpec(str(folders["bare_scorer"]), name="bare-scorer", allow_pickle=True),
    ]
    with serving(specs) as served:
        yield served


def _error(response: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error_code"]
    assert body["message"]
    assert body["request_id"]
    assert "Traceback" not in response.text
    assert body.get("field") == field, body
    return body


def test_a_tree_model_gets_treeshap_in_every_body_form(
    client: httpx.Client, folders: dict[str, Any]
) -> None:
    from kiln.explain import shap_values

    model, rows = folders["model"], folders["frame"].head(4)
    expected = shap_values(model, rows)
    records = rows.to_dict("records")
    bodies = [
        {"records": records},
        {"columns": {name: rows[name].tolist() for name in rows.columns}},
        {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}},
        {"instances": rows.values.tolist()},
    ]

    for body in bodies:
        response = client.post("/v1/models/hgb/explain", json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["method"], answer["output"], answer["outputs"]) == ("tree", "margin", None)
        assert answer["model"] == "hgb"
        assert answer["background_rows"] == 0
        assert response.headers["x-request-id"] == answer["request_id"]
        explanations = answer["explanations"]
        np.testing.assert_allclose(
            [row["prediction"] for row in explanations], model.decision_function(rows)
        )
        for i, row in enumerate(explanations):
            assert list(row["contributions"]) == [
                FEATURES[j] for j in np.argsort(-np.abs(expected.values[i]), kind="stable")
            ]
            got = [row["contributions"][name] for name in FEATURES]
            np.testing.assert_allclose(got, expected.values[i], atol=1e-12)
            assert row["base_value"] == pytest.approx(expected.base_values[i])
            assert row["rest"] == pytest.approx(0.0, abs=1e-12)


def test_top_k_keeps_the_largest_and_the_rest_keeps_the_sum(client: httpx.Client) -> None:
    rows = [{name: float(i + j) / 10 for j, name in enumerate(FEATURES)} for i in range(3)]

    answer = client.post("/v1/models/hgb/explain", json={"records": rows, "top_k": 3}).json()

    for row in answer["explanations"]:
        values = list(row["contributions"].values())
        assert len(values) == 3
        assert np.all(np.diff(np.abs(values)) <= 0)
        total = row["base_value"] + sum(values) + row["rest"]
        assert total == pytest.approx(row["prediction"], abs=1e-9)


def test_any_model_is_explained_against_its_input_example(client: httpx.Client) -> None:
    """The scorer is 2 amount + count; its example has amount 1, 2 and count 1, 2, so
    phi_amount = 2 (x - 1.5), phi_count = x - 1.5, phi_city = 0, base 4.5."""
    body = {
        "records": [
            {"amount": 10.0, "count": 3, "city": "z"},
            {"amount": 0.5, "count": 1, "city": "a"},
        ]
    }

    answer = client.post("/v1/models/scorer/explain", json=body).json()

    assert (answer["method"], answer["output"], answer["background_rows"]) == (
        "exact",
        "prediction",
        2,
    )
    first, second = answer["explanations"]
    assert first["prediction"] == pytest.approx(23.0)
    assert first["base_value"] == pytest.approx(4.5)
    assert first["contributions"] == pytest.approx({"amount": 17.0, "count": 1.5, "city": 0.0})
    assert list(first["contributions"]) == ["amount", "count", "city"]
    assert second["contributions"] == pytest.approx({"amount": -2.0, "count": -0.5, "city": 0.0})


def test_naming_a_method_explains_that_output_model_agnostically(
    client: httpx.Client, folders: dict[str, Any]
) -> None:
    model, rows = folders["model"], folders["frame"].head(2)

    response = client.post(
        "/v1/models/hgb/explain",
        json={"records": rows.to_dict("records"), "method": "predict_proba", "top_k": 5},
    )

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["method"], answer["output"], answer["outputs"]) == (
        "sampling",
        "probability",
        ["0", "1"],
    )
    assert answer["background_rows"] == 5
    for row, proba in zip(answer["explanations"], model.predict_proba(rows), strict=True):
        np.testing.assert_allclose(row["prediction"], proba, atol=1e-12)
        total = np.add(row["base_value"], row["rest"]) + np.sum(
            list(row["contributions"].values()), axis=0
        )
        np.testing.assert_allclose(total, proba, atol=1e-9)
        assert len(row["contributions"]) == 5
        assert all(len(value) == 2 for value in row["contributions"].values())


def test_a_model_without_an_input_example(client: httpx.Client) -> None:
    record = dict.fromkeys(FEATURES, 0.1)

    tree = client.post("/v1/models/bare-tree/explain", json={"records": [record]})
    assert tree.status_code == 200, tree.text
    assert tree.json()["method"] == "tree"

    body = _error(
        client.post(
            "/v1/models/bare-tree/explain", json={"records": [record], "method": "predict"}
        ),
        409,
        "input_example",
    )
    assert "input_example=" in body["message"]
    _error(
        client.post(
            "/v1/models/bare-scorer/explain",
            json={"records": [{"amount": 1.0, "count": 1, "city": "a"}]},
        ),
        409,
        "input_example",
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"records": [{"amount": 1.0, "count": 1, "city": "a"}], "top_k": 0}, 400, "top_k"),
        ({"records": [{"amount": 1.0, "count": 1, "city": "a"}], "top_k": "2"}, 400, "top_k"),
        ({"records": [{"amount": 1.0, "count": 1, "city": "a"}], "top_k": True}, 400, "top_k"),
        ({"records": [{"amount": 1.0, "count": 1, "city": "a"}], "topk": 2}, 400, "topk"),
        ({"records": [{"amount": 1.0, "count": 1}]}, 400, "city"),
        ({"records": [{"amount": "x", "count": 1, "city": "a"}]}, 400, "amount"),
        ({"records": []}, 400, "records"),
        ({"top_k": 2}, 400, "body"),
        ([], 400, "instances"),
        ("rows", 400, "body"),
        (
            {"records": [{"amount": 1.0, "count": 1, "city": "a"}], "method": "predict_proba"},
            400,
            "method",
        ),
    ],
)
def test_bad_bodies_are_a_4xx_naming_the_field(
    client: httpx.Client, body: Any, status: int, field: str
) -> None:
    _error(client.post("/v1/models/scorer/explain", json=body), status, field)


def test_unknown_models_bad_json_and_costly_requests(client: httpx.Client) -> None:
    _error(client.post("/v1/models/nope/explain", json={"records": [{}]}), 404, "name")
    _error(client.post("/v1/models/scorer/explain", content=b"{nope"), 400, "body")
    many = [dict.fromkeys(FEATURES, 0.0)] * 400
    body = _error(
        client.post("/v1/models/hgb/explain", json={"records": many, "method": "predict"}),
        400,
        "rows",
    )
    assert "send at most" in body["message"]
    metrics = client.get("/metrics").text
    assert 'route="explain"' in metrics


def test_a_registered_version_reads_its_own_input_example(
    make_context: Callable[..., Context], folders: dict[str, Any]
) -> None:
    from kiln import registry
    from kiln.server.background import BackgroundServer
    from tests.serving.conftest import wait_ready

    store = make_context()
    with using_context(store):
        registry.register_model(str(folders["scorer"]), "scoring")
    app = create_app([ModelSpec("models:/scoring/1", allow_pickle=True)], context=store)
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert wait_ready(http).status_code == 200
        response = http.post(
            "/v1/models/scoring/explain",
            json={"columns": {"amount": [3.0], "count": [2], "city": ["b"]}},
        )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["version"] == "1"
    assert answer["explanations"][0]["contributions"] == pytest.approx(
        {"amount": 3.0, "count": 0.5, "city": 0.0}
    )


def test_the_route_is_in_the_openapi_document() -> None:
    document = create_app(["unused"]).openapi()

    operation = document["paths"]["/v1/models/{name}/explain"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["top_k"] == {"type": "integer", "minimum": 1}
    assert "records" in schema["properties"]
