"""Inference graphs: sequences, ensembles and routers of real scikit-learn models.

Each kind is checked against the same arithmetic done by hand on the
fitted models (a router row by row, so input order is checked too), then
served over real HTTP (plain JSON and V2), and bad specs are refused with
the spec path of the bad value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from kiln.errors import InvalidInput, NotFound
from kiln.serving import load_served
from kiln.serving._graph import load_graph
from kiln.serving._graph_predictor import RouterGraph
from kiln.serving._graph_spec import model_uris, read_graph
from tests.serving.conftest import serving


@dataclass
class Zoo:
    """Saved models (folder paths as text), the fitted estimators, and rows to ask about."""

    paths: dict[str, str]
    fitted: dict[str, Any]
    frame: pd.DataFrame

    def hand(self, name: str, frame: pd.DataFrame, method: str = "predict") -> Any:
        model = self.fitted[name]
        return getattr(model, method)(frame[list(model.feature_names_in_)])


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier

    from kiln.models import save_model

    rng = np.random.default_rng(7)
    rows = 400
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in "abc"})
    frame["amount"] = np.abs(rng.normal(size=rows)) * 1000
    frame["hour"] = rng.integers(0, 24, rows).astype("int64")
    frame["country"] = rng.choice(["FR", "DE", "NO", "US"], rows)
    label = (frame.a + frame.b > 0).astype("int64")
    risk = LinearRegression().fit(frame[["a", "b"]], frame.a + 0.5 * frame.b)
    staged = pd.DataFrame({"c": frame.c, "risk": risk.predict(frame[["a", "b"]])})
    final = LogisticRegression().fit(staged, (staged.risk + 0.3 * staged.c > 0).astype("int64"))
    lr = LogisticRegression().fit(frame[["a", "b"]], label)
    probabilities = pd.DataFrame(lr.predict_proba(frame[["a", "b"]]), columns=["p0", "p1"])
    stacked = probabilities.assign(c=frame.c)[["p1", "c"]]
    stacker = LogisticRegression().fit(stacked, label)
    encoded = make_column_transformer((OneHotEncoder(), ["country"]), remainder="passthrough")
    fitted = {
        "by_country": make_pipeline(encoded, LogisticRegression()).fit(
            frame[["a", "country"]], ((frame.a > 0) | (frame.country == "FR")).astype("int64")
        ),
        "risk": risk,
        "final": final,
        "lr": lr,
        "stacker": stacker,
        "tree": DecisionTreeClassifier(max_depth=3, random_state=0).fit(
            frame[["a", "amount"]], label
        ),
        "night": LogisticRegression().fit(frame[["a", "hour"]], (frame.a > 0.3).astype("int64")),
        "wide": DecisionTreeClassifier(max_depth=2, random_state=0).fit(
            frame[["a", "b", "c"]], (frame.c > 0).astype("int64")
        ),
    }
    root = tmp_path_factory.mktemp("graph-models")
    paths = {}
    for name, model in fitted.items():
        example = staged if name == "final" else stacked if name == "stacker" else frame
        columns = list(model.feature_names_in_)
        paths[name] = str(
            save_model(model, root / name, input_example=example[columns].head()).path
        )
    return Zoo(paths, fitted, frame.iloc[:60].reset_index(drop=True))


def sequence_spec(zoo: Zoo, name: str = "scored") -> dict[str, Any]:
    return {"name": name, "kind": "sequence", "steps": [zoo.paths["risk"], zoo.paths["final"]]}


def router_spec(zoo: Zoo) -> dict[str, Any]:
    return {
        "name": "routed",
        "kind": "router",
        "routes": [
            {"when": "amount >= 1000", "model": zoo.paths["tree"]},
            {
                "when": {"all": ["hour < 6", {"column": "a", "op": ">", "value": 0}]},
                "model": zoo.paths["night"],
            },
        ],
        "default": zoo.paths["lr"],
    }


def route_by_hand(zoo: Zoo, frame: pd.DataFrame, method: str = "predict") -> list[Any]:
    """One row at a time: the model its first matching rule names, else the default."""
    answers = []
    for position in range(len(frame)):
        row = frame.iloc[[position]]
        if row.amount.item() >= 1000:
            name = "tree"
        elif row.hour.item() < 6 and row.a.item() > 0:
            name = "night"
        else:
            name = "lr"
        answers.append((name, zoo.hand(name, row, method)[0]))
    return answers


def test_a_sequence_feeds_each_output_to_the_next_step(zoo: Zoo) -> None:
    graph = load_graph(sequence_spec(zoo))
    frame = zoo.frame
    staged = pd.DataFrame({"c": frame.c, "risk": zoo.hand("risk", frame)})
    assert graph.flavor == "graph"
    assert graph.signature.input_names == ["a", "b", "c"]  # risk is made, not asked for
    np.testing.assert_array_equal(graph.predict(frame), zoo.hand("final", staged))
    np.testing.assert_allclose(
        graph.predict_proba(frame), zoo.hand("final", staged, "predict_proba"), rtol=1e-12
    )
    # The server's form: a dict of NumPy columns, extra columns dropped.
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    np.testing.assert_array_equal(graph.predict(columns), zoo.hand("final", staged))


def test_a_step_with_several_output_columns_names_each(zoo: Zoo) -> None:
    steps = [
        {"model": zoo.paths["lr"], "method": "predict_proba", "output_columns": ["p0", "p1"]},
        zoo.paths["stacker"],
    ]
    graph = load_graph({"kind": "sequence", "steps": steps})
    frame = zoo.frame
    p1 = zoo.hand("lr", frame, "predict_proba")[:, 1]
    expected = zoo.fitted["stacker"].predict(pd.DataFrame({"p1": p1, "c": frame.c}))
    np.testing.assert_array_equal(graph.predict(frame), expected)
    assert not hasattr(
        load_graph(sequence_spec(zoo) | {"steps": [zoo.paths["risk"]]}), "predict_proba"
    )


@pytest.mark.parametrize("combine", ["average", "vote", "max", "min"])
def test_an_ensemble_combines_its_members_as_computed_by_hand(zoo: Zoo, combine: str) -> None:
    members = ["lr", "tree", "wide"]
    weights = {"average": [1.0, 2.0, 0.5], "vote": [1.0, 1.0, 1.5]}.get(combine)
    method = "predict_proba" if combine in ("average", "max") else "predict"
    spec: dict[str, Any] = {
        "kind": "ensemble",
        "members": [zoo.paths[name] for name in members],
        "combine": combine,
        "method": method,
    }
    if weights:
        spec["weights"] = weights
    graph = load_graph(spec)
    frame = zoo.frame
    outputs = np.stack([zoo.hand(name, frame, method) for name in members])
    if combine == "average":
        expected = np.average(outputs, axis=0, weights=weights)
    elif combine == "max":
        expected = outputs.max(axis=0)
    elif combine == "min":
        expected = outputs.min(axis=0)
    else:
        assert weights is not None
        expected = np.array(
            [
                max(
                    (0, 1),
                    key=lambda label: sum(
                        w for w, vote in zip(weights, outputs[:, row], strict=True) if vote == label
                    ),
                )
                for row in range(len(frame))
            ]
        )
    np.testing.assert_allclose(graph.predict(frame), expected, rtol=1e-12)
    assert graph.signature.input_names == ["a", "b", "amount", "c"]
    assert hasattr(graph, "predict_proba") is (combine != "vote")


def test_a_vote_tie_goes_to_the_smallest_label(zoo: Zoo) -> None:
    graph = load_graph(
        {"kind": "ensemble", "members": [zoo.paths["lr"], zoo.paths["wide"]], "combine": "vote"}
    )
    frame = zoo.frame
    lr, wide = zoo.hand("lr", frame), zoo.hand("wide", frame)
    assert (lr != wide).any()
    np.testing.assert_array_equal(graph.predict(frame), np.minimum(lr, wide))


def test_a_router_sends_each_row_to_its_model_and_keeps_input_order(zoo: Zoo) -> None:
    graph = load_graph(router_spec(zoo))
    frame = zoo.frame
    by_hand = route_by_hand(zoo, frame)
    assert {name for name, _ in by_hand} == {"tree", "night", "lr"}  # all three are used
    np.testing.assert_array_equal(graph.predict(frame), [answer for _, answer in by_hand])
    probabilities = [answer for _, answer in route_by_hand(zoo, frame, "predict_proba")]
    np.testing.assert_allclose(graph.predict_proba(frame), probabilities, rtol=1e-12)
    assert graph.signature.input_names == ["a", "amount", "hour", "b"]
    # One row at a time gives the same answers as the whole batch.
    for position in (0, 7, 31):
        row = frame.iloc[[position]]
        assert graph.predict(row)[0] == by_hand[position][1]


def test_rules_in_text_and_mapping_form_and_missing_values(zoo: Zoo) -> None:
    def route(graph: Any, frame: pd.DataFrame) -> list[int]:
        assert isinstance(graph, RouterGraph)
        return [int(i) for i in graph.route({name: frame[name].to_numpy() for name in frame})]

    def routed(when: Any) -> list[int]:
        spec = {
            "kind": "router",
            "routes": [{"when": when, "model": zoo.paths["night"]}],
            "default": zoo.paths["tree"],
        }
        return route(load_graph(spec), zoo.frame)

    hours = zoo.frame.hour.to_numpy()
    night = [0 if hour in (1, 2, 3) else 1 for hour in hours]
    assert routed("hour in [1, 2, 3]") == night
    assert routed({"column": "hour", "op": "in", "value": [1, 2, 3]}) == night
    assert routed({"not": "hour not in [1, 2, 3]"}) == night
    assert routed({"any": ["hour == 1", "hour == 2", "hour == 3"]}) == night
    graph = load_graph(router_spec(zoo))
    missing = zoo.frame.head(3).assign(amount=[np.nan, 5000.0, np.nan])
    chosen = route(graph, missing)
    assert chosen[1] == 0
    assert 0 not in (chosen[0], chosen[2])  # NaN >= 1000 is false: NaN rows go on to the next rule


def test_graphs_nest_inline_and_by_file(zoo: Zoo, tmp_path: Path) -> None:
    (tmp_path / "scored.yaml").write_text(yaml.safe_dump(sequence_spec(zoo)))
    outer = {
        "name": "nested",
        "kind": "router",
        "routes": [{"when": "amount >= 1000", "model": zoo.paths["tree"]}],
        "default": {
            "kind": "ensemble",
            "members": ["graph:scored.yaml", zoo.paths["lr"]],
            "combine": "average",
        },
    }
    path = tmp_path / "nested.yaml"
    path.write_text(yaml.safe_dump(outer))
    graph = load_graph(path)
    frame = zoo.frame
    staged = pd.DataFrame({"c": frame.c, "risk": zoo.hand("risk", frame)})
    inner = (
        zoo.hand("final", staged, "predict_proba") + zoo.hand("lr", frame, "predict_proba")
    ) / 2
    expected = np.where(
        (frame.amount >= 1000).to_numpy()[:, None], zoo.hand("tree", frame, "predict_proba"), inner
    )
    np.testing.assert_allclose(graph.predict_proba(frame), expected, rtol=1e-12)
    assert model_uris(read_graph(path)) == [zoo.paths[n] for n in ("tree", "risk", "final", "lr")]


def test_graphs_are_served_over_http(zoo: Zoo, tmp_path: Path) -> None:
    sequence, router = tmp_path / "sequence.yaml", tmp_path / "router.yaml"
    sequence.write_text(yaml.safe_dump(sequence_spec(zoo, "fraud-graph")))
    router.write_text(yaml.safe_dump(router_spec(zoo)))
    frame = zoo.frame.head(25)
    staged = pd.DataFrame({"c": frame.c, "risk": zoo.hand("risk", frame)})
    routed = [answer for _, answer in route_by_hand(zoo, frame)]
    with serving([f"graph:{sequence}", f"graph:{router}"]) as client:
        listed = {model["name"]: model for model in client.get("/v1/models").json()["models"]}
        assert listed["fraud-graph"]["flavor"] == "graph"
        assert [i["name"] for i in listed["fraud-graph"]["inputs"]] == ["a", "b", "c"]
        assert listed["routed"]["methods"] == ["predict", "predict_proba"]

        records = frame[["a", "b", "c"]].to_dict("records")
        answer = client.post("/v1/models/fraud-graph/predict", json={"records": records})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == zoo.hand("final", staged).tolist()
        proba = client.post(
            "/v1/models/fraud-graph/predict", json={"records": records, "method": "predict_proba"}
        ).json()["predictions"]
        np.testing.assert_allclose(proba, zoo.hand("final", staged, "predict_proba"), rtol=1e-12)

        columns = {name: frame[name].tolist() for name in ["a", "amount", "hour", "b"]}
        answer = client.post("/v1/models/routed/predict", json={"columns": columns})
        assert answer.json()["predictions"] == [int(value) for value in routed]
        missing = client.post("/v1/models/routed/predict", json={"records": [{"a": 1.0}]})
        assert missing.status_code == 400
        assert missing.json()["field"] == "amount"

        tensors = [
            {
                "name": name,
                "shape": [len(frame)],
                "datatype": datatype,
                "data": frame[name].tolist(),
            }
            for name, datatype in [
                ("a", "FP64"),
                ("amount", "FP64"),
                ("hour", "INT64"),
                ("b", "FP64"),
            ]
        ]
        infer = client.post("/v2/models/routed/infer", json={"inputs": tensors})
        assert infer.status_code == 200, infer.text
        (output,) = infer.json()["outputs"]
        assert output["name"] == "predict"
        assert output["data"] == [int(v) for v in routed]
        metadata = client.get("/v2/models/routed").json()
        assert metadata["platform"] == "graph"
        assert [tensor["name"] for tensor in metadata["inputs"]] == ["a", "amount", "hour", "b"]


def test_a_router_on_a_text_column_over_http(zoo: Zoo, tmp_path: Path) -> None:
    spec = {
        "name": "by-country",
        "kind": "router",
        # "NO" is quoted: bare, YAML reads it as false (and the router would refuse it).
        "routes": [{"when": "country in [FR, DE, 'NO']", "model": zoo.paths["by_country"]}],
        "default": zoo.paths["lr"],
    }
    path = tmp_path / "country.yaml"
    path.write_text(yaml.safe_dump(spec))
    frame = zoo.frame.head(30)
    local = frame.country.isin(["FR", "DE", "NO"]).to_numpy()
    assert 0 < local.sum() < len(local)
    expected = np.where(local, zoo.hand("by_country", frame), zoo.hand("lr", frame))
    with serving([f"graph:{path}"]) as client:
        records = frame[["a", "country", "b"]].to_dict("records")
        answer = client.post("/v1/models/by-country/predict", json={"records": records})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == expected.tolist()
        text = client.post(
            "/v1/models/by-country/predict", json={"records": [{"a": 1.0, "b": 2.0, "country": 3}]}
        )
        assert text.status_code == 400
        assert text.json()["field"] == "country"
    unquoted = spec | {"routes": [{"when": "country == NO", "model": zoo.paths["by_country"]}]}
    with pytest.raises(InvalidInput, match="cannot be compared with False") as caught:
        load_graph(unquoted)
    assert caught.value.field == "routes[0].when.value"


def test_load_served_names_a_graph_after_its_spec(zoo: Zoo, tmp_path: Path) -> None:
    path = tmp_path / "any-file-name.yaml"
    path.write_text(yaml.safe_dump(sequence_spec(zoo, "scored")))
    assert load_served(f"graph:{path}").name == "scored"
    served = load_served(f"graph:{path}", name="renamed")
    assert served.name == "renamed"
    assert served.version is None
    assert served.methods == ("predict", "predict_proba")
    unnamed = tmp_path / "fallback.yaml"
    unnamed.write_text(yaml.safe_dump({"kind": "sequence", "steps": [zoo.paths["risk"]]}))
    assert load_served(f"graph:{unnamed}").name == "fallback"


SHAPE_ERRORS = [
    ({"kind": "pipeline"}, "kind"),
    ({"kind": "sequence", "steps": []}, "steps"),
    ({"kind": "sequence", "stpes": ["x"]}, "stpes"),
    ({"kind": "sequence", "steps": [{"model": "x", "colour": "red"}]}, "steps[0].colour"),
    ({"kind": "sequence", "steps": [{"model": "x", "method": "transform"}]}, "steps[0].method"),
    (
        {
            "kind": "sequence",
            "steps": [{"model": "x", "output_column": "a", "output_columns": ["b"]}],
        },
        "steps[0].output_columns",
    ),
    ({"kind": "ensemble", "members": ["x", "y"], "weights": [1, -1]}, "weights[1]"),
    ({"kind": "ensemble", "members": ["x", "y"], "weights": [1]}, "weights"),
    ({"kind": "ensemble", "members": ["x", "y"], "weights": [0, 0]}, "weights"),
    ({"kind": "ensemble", "members": ["x"], "weights": [1], "combine": "max"}, "weights"),
    ({"kind": "ensemble", "members": ["x"], "combine": "median"}, "combine"),
    (
        {"kind": "ensemble", "members": ["x"], "combine": "vote", "method": "predict_proba"},
        "method",
    ),
    ({"kind": "router", "routes": [{"when": "a > 1", "model": "x"}]}, "default"),
    (
        {
            "kind": "router",
            "default": "x",
            "routes": [
                {"when": "a > 1", "model": "x"},
                {"when": {"column": "a", "op": "=~", "value": 1}, "model": "y"},
            ],
        },
        "routes[1].when.op",
    ),
    (
        {"kind": "router", "default": "x", "routes": [{"when": "a => 1", "model": "x"}]},
        "routes[0].when.op",
    ),
    (
        {"kind": "router", "default": "x", "routes": [{"when": "a>1", "model": "x"}]},
        "routes[0].when",
    ),
    (
        {"kind": "router", "default": "x", "routes": [{"when": "a in 3", "model": "x"}]},
        "routes[0].when.value",
    ),
    (
        {"kind": "router", "default": "x", "routes": [{"when": {"all": []}, "model": "x"}]},
        "routes[0].when.all",
    ),
    ({"kind": "router", "default": "x", "routes": [{"model": "x"}]}, "routes[0].when"),
    ({"kind": "ensemble", "members": [{"kind": "sequence", "steps": 3}]}, "members[0].steps"),
]


@pytest.mark.parametrize(("spec", "field"), SHAPE_ERRORS)
def test_a_malformed_spec_is_refused_naming_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_graph(spec)
    assert caught.value.field == field, caught.value.message


def test_a_spec_that_does_not_fit_its_models_is_refused_naming_the_field(zoo: Zoo) -> None:
    p = zoo.paths

    def refused(spec: dict[str, Any]) -> str | None:
        with pytest.raises(InvalidInput) as caught:
            load_graph(spec)
        return caught.value.field

    def router(when: Any) -> dict[str, Any]:
        return {
            "kind": "router",
            "routes": [{"when": when, "model": p["tree"]}],
            "default": p["lr"],
        }

    assert refused(router("amonut >= 1000")) == "routes[0].when.column"
    assert refused(router({"all": ["a > 0", "amount == big"]})) == "routes[0].when.all[1].value"
    assert (
        refused(
            {"kind": "sequence", "steps": [{"model": p["risk"], "output_column": "a"}, p["final"]]}
        )
        == "steps[0].output_column"
    )
    assert (
        refused({"kind": "ensemble", "members": [p["lr"], p["risk"]], "method": "predict_proba"})
        == "method"
    )
    assert (
        refused({"kind": "sequence", "steps": [{"model": p["risk"], "method": "predict_proba"}]})
        == "steps[0].method"
    )
    with pytest.raises(NotFound) as missing:
        load_graph(
            {"kind": "ensemble", "members": [p["lr"], {"kind": "sequence", "steps": ["/no/such"]}]}
        )
    assert missing.value.field == "members[1].steps[0]"
    assert "members[1].steps[0]: no model folder" in missing.value.message


def test_spec_files_missing_or_including_themselves(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_graph(tmp_path / "absent.yaml")
    (tmp_path / "a.yaml").write_text("kind: ensemble\nmembers: ['graph:b.yaml']\n")
    (tmp_path / "b.yaml").write_text("kind: sequence\nsteps: ['graph:a.yaml']\n")
    with pytest.raises(InvalidInput, match="includes itself") as caught:
        read_graph(tmp_path / "a.yaml")
    assert caught.value.field == "members[0].steps[0]"
    (tmp_path / "bad.yaml").write_text("kind: [unclosed\n")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        read_graph(f"graph:{tmp_path / 'bad.yaml'}")
