"""MLflow 3 model logging against Kiln: log_model, register, alias, load back by alias."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")

pytestmark = pytest.mark.filterwarnings("ignore:::mlflow", "ignore:::sklearn")


def test_log_register_alias_and_load_an_sklearn_model(
    client: Any, kiln_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx
    from sklearn.linear_model import LogisticRegression

    # MLflow refuses to unpickle (skops included) unless told the source is trusted.
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    rng = np.random.default_rng(0)
    features = rng.random((60, 3))
    labels = (features[:, 0] > 0.5).astype(int)
    model = LogisticRegression().fit(features, labels)
    mlflow.set_experiment("mlflow-models")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", input_example=features[:2])
    assert info.model_uri.startswith("models:/m-")
    logged = client.get_logged_model(info.model_id)
    assert logged.status.to_proto() == mlflow.entities.LoggedModelStatus.READY.to_proto()
    assert logged.source_run_id == run.info.run_id
    files = {f.path for f in client.list_logged_model_artifacts(info.model_id)}
    assert "MLmodel" in files

    version = mlflow.register_model(info.model_uri, "mlflow-clf")
    client.set_registered_model_alias("mlflow-clf", "champion", version.version)
    loaded = mlflow.pyfunc.load_model("models:/mlflow-clf@champion")
    np.testing.assert_array_equal(loaded.predict(features[:10]), model.predict(features[:10]))

    # The same model version is a Kiln registry entry.
    kiln_view = httpx.get(f"{kiln_server}/api/v1/registered-models/mlflow-clf").json()
    assert kiln_view["name"] == "mlflow-clf"
    search = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert [m.model_id for m in search] == [info.model_id]


def test_a_kiln_model_loads_with_mlflow_pyfunc(
    client: Any, kiln_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """Logged and registered with Kiln's SDK, loaded by the stock MLflow client."""
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    import kiln
    from kiln.tracking import _fluent

    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.random((80, 4)), columns=["a", "b", "c", "d"])
    labels = (frame["a"] + frame["b"] > 1).astype(int)
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(frame, labels)
    kiln.configure(home=tmp_path / "client", server_url=kiln_server)
    try:
        with kiln.start_run(experiment="kiln-models"):
            logged = kiln.log_model(model, "model", input_example=frame.head(5))
        version = kiln.register_model(logged.uri, "kiln-forest")
        kiln.set_alias("kiln-forest", "champion", version.version)
    finally:
        _fluent._reset_for_tests()
        kiln.configure(home=tmp_path / "after")
    loaded = mlflow.pyfunc.load_model("models:/kiln-forest@champion")
    np.testing.assert_array_equal(loaded.predict(frame.head(10)), model.predict(frame.head(10)))
