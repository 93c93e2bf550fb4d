"""The stock ``mlflow`` client's model registry calls against ``kiln server``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:::mlflow"),
    # Stages are deprecated in MLflow; these tests call the deprecated client methods on purpose.
    pytest.mark.filterwarnings("ignore:.*stages.*:FutureWarning"),
]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _error(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(MlflowException) as caught:
        call(*args, **kwargs)
    return str(caught.value.error_code)


@pytest.fixture
def model_run(client: Any, tmp_path: Path) -> str:
    """A run (created by the mlflow client) holding an MLflow-style ``model/`` folder."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "weights.bin").write_bytes(b"\x00\x01weights")
    experiment_id = client.create_experiment(_name("registry"))
    run = client.create_run(experiment_id)
    client.log_artifacts(run.info.run_id, str(folder), "model")
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def test_registered_model_lifecycle(client: Any) -> None:
    name = _name("fraud")
    created = client.create_registered_model(name, tags={"team": "risk"}, description="first")
    assert (created.name, created.description, created.tags) == (name, "first", {"team": "risk"})
    assert created.creation_timestamp > 0
    got = client.get_registered_model(name)
    assert (got.name, got.latest_versions, got.aliases) == (name, [], {})

    updated = client.update_registered_model(name, description="second")
    assert updated.description == "second"
    client.set_registered_model_tag(name, "stage", "dev")
    client.delete_registered_model_tag(name, "team")
    assert client.get_registered_model(name).tags == {"stage": "dev"}

    client.rename_registered_model(name, name + "-v2")
    assert client.get_registered_model(name + "-v2").tags == {"stage": "dev"}
    assert _error(client.get_registered_model, name) == "RESOURCE_DOES_NOT_EXIST"

    other = _name("other")
    client.create_registered_model(other)
    found = client.search_registered_models(filter_string=f"name LIKE '{name}%'")
    assert [m.name for m in found] == [name + "-v2"]
    found = client.search_registered_models(filter_string="tags.stage = 'dev'")
    assert name + "-v2" in [m.name for m in found]
    assert other not in [m.name for m in found]
    page = client.search_registered_models(
        filter_string=f"name IN ('{name}-v2', '{other}')", max_results=1, order_by=["name DESC"]
    )
    assert [m.name for m in page] == [other]
    assert page.token
    rest = client.search_registered_models(
        filter_string=f"name IN ('{name}-v2', '{other}')",
        max_results=1,
        order_by=["name DESC"],
        page_token=page.token,
    )
    assert [m.name for m in rest] == [name + "-v2"]

    client.delete_registered_model(name + "-v2")
    assert _error(client.get_registered_model, name + "-v2") == "RESOURCE_DOES_NOT_EXIST"


def test_registered_model_errors(client: Any) -> None:
    name = _name("dup")
    client.create_registered_model(name)
    assert _error(client.create_registered_model, name) == "RESOURCE_ALREADY_EXISTS"
    assert _error(client.create_registered_model, "bad/name") == "INVALID_PARAMETER_VALUE"
    other = _name("taken")
    client.create_registered_model(other)
    assert _error(client.rename_registered_model, name, other) == "RESOURCE_ALREADY_EXISTS"
    missing = _name("missing")
    assert _error(client.get_registered_model, missing) == "RESOURCE_DOES_NOT_EXIST"
    assert _error(client.delete_registered_model, missing) == "RESOURCE_DOES_NOT_EXIST"
    assert _error(client.get_model_version, missing, "1") == "RESOURCE_DOES_NOT_EXIST"
    assert _error(client.get_model_version, name, "7") == "RESOURCE_DOES_NOT_EXIST"
    assert _error(client.delete_registered_model_tag, name, "nope") == "RESOURCE_DOES_NOT_EXIST"
    assert (
        _error(client.create_model_version, missing, "runs:/abc/model") == "RESOURCE_DOES_NOT_EXIST"
    )
    assert _error(client.search_registered_models, "name ~ 'x'") == "INVALID_PARAMETER_VALUE"


def test_model_versions(client: Any, model_run: str) -> None:
    name = _name("versions")
    client.create_registered_model(name)
    source = f"runs:/{model_run}/model"
    v1 = client.create_model_version(
        name, source, run_id=model_run, tags={"k": "v"}, description="one"
    )
    assert (v1.name, v1.version, v1.source, v1.run_id) == (name, "1", source, model_run)
    assert (v1.status, v1.current_stage, v1.description, v1.tags) == (
        "READY",
        "None",
        "one",
        {"k": "v"},
    )
    v2 = client.create_model_version(name, source)
    assert (v2.version, v2.run_id) == ("2", model_run)

    got = client.get_model_version(name, 1)
    assert (got.version, got.description, got.source) == ("1", "one", source)
    assert client.update_model_version(name, 1, description="uno").description == "uno"
    client.set_model_version_tag(name, "2", "checked", "yes")
    client.delete_model_version_tag(name, "1", "k")
    assert client.get_model_version(name, "1").tags == {}
    assert client.get_model_version(name, "2").tags == {"checked": "yes"}

    found = client.search_model_versions(f"name = '{name}'")
    assert [v.version for v in found] == ["2", "1"]
    found = client.search_model_versions(f"name = '{name}' and tags.checked = 'yes'")
    assert [v.version for v in found] == ["2"]
    found = client.search_model_versions(f"run_id = '{model_run}'")
    assert {v.version for v in found} == {"1", "2"}

    model = client.get_registered_model(name)
    assert [v.version for v in model.latest_versions] == ["2"]

    client.delete_model_version(name, "2")
    assert _error(client.get_model_version, name, "2") == "RESOURCE_DOES_NOT_EXIST"
    assert _error(client.delete_model_version, name, "2") == "RESOURCE_DOES_NOT_EXIST"
    assert [v.version for v in client.search_model_versions(f"name = '{name}'")] == ["1"]


def test_version_source_must_be_a_run_of_the_project(client: Any) -> None:
    name = _name("src")
    client.create_registered_model(name)
    missing_run = uuid.uuid4().hex
    assert (
        _error(client.create_model_version, name, f"runs:/{missing_run}/model")
        == "RESOURCE_DOES_NOT_EXIST"
    )


def test_aliases(client: Any, model_run: str) -> None:
    name = _name("aliases")
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, f"runs:/{model_run}/model", run_id=model_run)
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "challenger", 2)
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_registered_model(name).aliases == {"champion": "1", "challenger": "2"}
    assert client.get_model_version(name, "2").aliases == ["challenger"]
    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert sorted(client.get_model_version(name, "2").aliases) == ["challenger", "champion"]

    client.delete_registered_model_alias(name, "challenger")
    assert _error(client.get_model_version_by_alias, name, "challenger") == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    assert _error(client.set_registered_model_alias, name, "x", "9") == "RESOURCE_DOES_NOT_EXIST"
    assert _error(client.set_registered_model_alias, name, "latest", "1") == (
        "INVALID_PARAMETER_VALUE"
    )
    # Deleting a version removes the aliases on it.
    client.delete_model_version(name, "2")
    assert client.get_registered_model(name).aliases == {}


def test_alias_moves_go_through_kiln_gates(client: Any, kiln_server: str, tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}\n")
    run_id = client.create_run(client.create_experiment(_name("gated"))).info.run_id
    client.log_artifacts(run_id, str(tmp_path / "model"), "model")
    client.log_metric(run_id, "auc", 0.5)
    name = _name("gated")
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{run_id}/model")
    check = {"type": "metric_threshold", "name": "auc", "metric": "auc", "op": ">=", "value": 0.9}
    gate = {"checks": [check]}
    response = httpx.put(
        f"{kiln_server}/api/v1/registered-models/{name}/gates/production", json=gate
    )
    assert response.status_code == 200, response.text
    with pytest.raises(MlflowException) as caught:
        client.set_registered_model_alias(name, "production", "1")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "auc" in caught.value.message
    with pytest.raises(MlflowException) as caught:
        client.transition_model_version_stage(name, "1", "Production")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_model_version(name, "1").current_stage == "None"

    client.log_metric(run_id, "auc", 0.95)
    client.set_registered_model_alias(name, "production", "1")
    assert client.get_model_version(name, "1").current_stage == "Production"
    events = httpx.get(
        f"{kiln_server}/api/v1/registered-models/{name}/aliases/production/history"
    ).json()
    assert events[0]["to_version"] == 1


def test_stages_map_onto_aliases(client: Any, model_run: str) -> None:
    name = _name("stages")
    client.create_registered_model(name)
    for _ in range(3):
        client.create_model_version(name, f"runs:/{model_run}/model")

    moved = client.transition_model_version_stage(name, "1", "Production")
    assert (moved.current_stage, moved.aliases) == ("Production", ["production"])
    assert client.transition_model_version_stage(name, "2", "staging").current_stage == "Staging"
    assert client.get_registered_model(name).aliases == {"production": "1", "staging": "2"}
    latest = client.get_latest_versions(name)
    assert {v.current_stage: v.version for v in latest} == {
        "None": "3",
        "Staging": "2",
        "Production": "1",
    }
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == ["1"]
    assert [v.version for v in client.get_latest_versions(name, stages=["None"])] == ["3"]
    model = client.get_registered_model(name)
    assert sorted(v.version for v in model.latest_versions) == ["1", "2", "3"]

    # Promoting the staging version: it leaves Staging, version 1 leaves Production.
    promoted = client.transition_model_version_stage(name, "2", "Production")
    assert (promoted.current_stage, promoted.aliases) == ("Production", ["production"])
    assert client.get_model_version(name, "1").current_stage == "None"
    assert client.get_latest_versions(name, stages=["Staging"]) == []
    assert client.get_model_version_by_alias(name, "production").version == "2"

    archived = client.transition_model_version_stage(name, "2", "Archived")
    assert (archived.current_stage, archived.aliases) == ("None", [])
    assert client.get_registered_model(name).aliases == {}
    assert _error(client.transition_model_version_stage, name, "1", "Gold") == (
        "INVALID_PARAMETER_VALUE"
    )
    assert _error(client.get_latest_versions, name, ["Gold"]) == "INVALID_PARAMETER_VALUE"


def test_download_uri_and_models_uri(client: Any, model_run: str, tmp_path: Path) -> None:
    name = _name("download")
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{model_run}/model")
    uri = client.get_model_version_download_uri(name, "1")
    run = client.get_run(model_run)
    assert uri == f"{run.info.artifact_uri}/model"
    target = mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=str(tmp_path))
    assert (Path(target) / "weights.bin").read_bytes() == b"\x00\x01weights"
    assert _error(client.get_model_version_download_uri, name, "5") == "RESOURCE_DOES_NOT_EXIST"


def test_registered_through_mlflow_is_a_kiln_model(
    client: Any, kiln_server: str, model_run: str
) -> None:
    name = _name("shared")
    client.create_registered_model(name, description="from mlflow")
    client.create_model_version(name, f"runs:/{model_run}/model", run_id=model_run)
    client.set_registered_model_alias(name, "champion", "1")
    response = httpx.get(f"{kiln_server}/api/v1/registered-models/{name}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["description"], body["aliases"]) == (
        name,
        "from mlflow",
        {"champion": 1},
    )
    version = httpx.get(f"{kiln_server}/api/v1/registered-models/{name}/versions/1").json()
    assert (version["source"], version["run_id"]) == (f"runs:/{model_run}/model", model_run)
    # And a Kiln-side change shows through MLflow.
    httpx.put(
        f"{kiln_server}/api/v1/registered-models/{name}/tags/owner", json={"value": "kiln"}
    ).raise_for_status()
    assert client.get_registered_model(name).tags == {"owner": "kiln"}


def test_register_model_fluent(client: Any, model_run: str) -> None:
    """``mlflow.register_model`` of a run's MLflow model folder (it sends the artifact location)."""
    name = _name("fluent")
    version = mlflow.register_model(f"runs:/{model_run}/model", name)
    assert (version.name, version.version, version.run_id) == (name, "1", model_run)
    assert client.get_model_version(name, "1").status == "READY"
    again = mlflow.register_model(f"runs:/{model_run}/model", name)
    assert again.version == "2"


def test_search_leaves_out_mlflow_prompts(client: Any, kiln_server: str) -> None:
    """MLflow clients add a clause excluding prompts; models without the tag still match."""
    plain, prompt = _name("plain"), _name("prompt")
    client.create_registered_model(plain)
    client.create_registered_model(prompt)
    # The mlflow client refuses to tag a model as a prompt; Kiln's API does not care.
    httpx.put(
        f"{kiln_server}/api/v1/registered-models/{prompt}/tags/mlflow.prompt.is_prompt",
        json={"value": "true"},
    ).raise_for_status()
    found = [m.name for m in client.search_registered_models()]
    assert plain in found
    assert prompt not in found


def test_a_version_inherits_the_feature_record_of_its_run(client: Any, tmp_path: Path) -> None:
    from kiln.features import TrainingFeatures

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    run_id = client.create_run(client.create_experiment(_name("features"))).info.run_id
    record = TrainingFeatures(
        references=("customer_stats:spend",), views={"customer_stats": 3}, service="fraud"
    )
    for key, value in record.as_tags().items():
        client.set_tag(run_id, key, value)
    client.set_tag(run_id, "unrelated", "not copied")
    client.log_artifacts(run_id, str(folder), "model")
    name = _name("features")
    client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    assert TrainingFeatures.from_tags(version.tags) == record
    assert "unrelated" not in version.tags
