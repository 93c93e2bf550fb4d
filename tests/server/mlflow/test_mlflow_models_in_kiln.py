"""Models logged and registered with the stock ``mlflow`` client load with Kiln's SDK.

The files come back from the artifact store, each checked against the
digest recorded when it was uploaded, into a content-addressed cache; then
``kiln.models.load_model`` reads the ``MLmodel``. Embedded (the stores
directly) and remote (``kiln.configure(server_url=...)``) alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import kiln
from kiln import registry
from kiln.context import Context
from kiln.errors import Conflict, NotFound, PermissionDenied
from kiln.tracking import _fluent

mlflow = pytest.importorskip("mlflow")

pytestmark = pytest.mark.filterwarnings("ignore:::mlflow")

#: Skips MLflow's requirement inference (a subprocess per model); Kiln does not read it.
QUICK: dict[str, Any] = {"pip_requirements": []}
PROJECT = "default"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(rng.random((80, 3)), columns=["a", "b", "c"])


@pytest.fixture(scope="module")
def labels(frame: pd.DataFrame) -> np.ndarray:
    return (frame["a"] > frame["b"]).astype(int).to_numpy()


@pytest.fixture
def kiln_client(kiln_server: str, tmp_path: Path) -> Iterator[Path]:
    """Kiln's SDK pointed at the same server as the MLflow client; yields its home."""
    home = tmp_path / "client"
    kiln.configure(home=home, server_url=kiln_server)
    try:
        yield home
    finally:
        _fluent._reset_for_tests()
        kiln.configure(home=tmp_path / "after")


def test_a_model_logged_with_mlflow_loads_by_alias_in_kiln(
    client: Any, kiln_client: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(frame, labels)
    mlflow.set_experiment("mlflow-models-in-kiln")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=frame.head(3), **QUICK)
    version = mlflow.register_model(info.model_uri, "mlflow-logreg")
    client.set_registered_model_alias("mlflow-logreg", "champion", version.version)

    loaded = registry.load_model("models:/mlflow-logreg@champion")

    assert registry.get_model_version("mlflow-logreg", 1).source == info.model_uri
    assert (loaded.flavor, loaded.manifest.serialization) == ("sklearn", "skops")
    assert loaded.signature is not None
    assert loaded.signature.input_names == ["a", "b", "c"]
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))
    # The logged model's own URI loads too, from the same cached copy.
    np.testing.assert_array_equal(
        registry.load_model(info.model_uri).predict(frame), model.predict(frame)
    )
    (cached,) = (kiln_client / "cache" / "models" / "mlflow").iterdir()
    assert (cached / "MLmodel").is_file()

    # Every load checks the cached files against the digests recorded at upload.
    (cached / "model.skops").write_bytes(b"changed")
    with pytest.raises(Conflict, match="cached copy of version 1 of model 'mlflow-logreg'"):
        registry.load_model("models:/mlflow-logreg@champion")


def test_a_pickled_model_from_a_runs_artifacts_needs_allow_pickle(
    client: Any, kiln_client: Path, tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(frame, labels)
    folder = tmp_path / "saved"
    mlflow.sklearn.save_model(model, folder, serialization_format="cloudpickle", **QUICK)
    mlflow.set_experiment("mlflow-models-in-kiln")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), "legacy")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/legacy", "mlflow-legacy")
    assert version.source.startswith("mlflow-artifacts:/")

    with pytest.raises(PermissionDenied, match="allow_pickle=True"):
        registry.load_model("models:/mlflow-legacy/1")
    loaded = registry.load_model("models:/mlflow-legacy/1", allow_pickle=True)

    assert loaded.manifest.serialization == "cloudpickle"
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


# Embedded and remote, through Kiln's own services: what the MLflow routes store.


@pytest.fixture(params=["local", "remote"])
def sdk(request: pytest.FixtureRequest, tmp_path: Path, sqlite_url: str) -> Iterator[Context]:
    """Kiln's SDK on a store used directly, or through a live in-process server."""
    from kiln.server import create_app
    from kiln.server.background import BackgroundServer

    store = kiln.configure(home=tmp_path / "store", database_url=sqlite_url)
    server: BackgroundServer | None = None
    if request.param == "remote":
        server = BackgroundServer(create_app(Context(store.settings)))
        kiln.configure(home=tmp_path / "client", server_url=server.start())
    try:
        yield store
    finally:
        _fluent._reset_for_tests()
        if server is not None:
            server.stop()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


def _upload(store: Context, folder: Path, record: Any, owner: str, prefix: str = "") -> None:
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        blob = store.artifacts.put_file(file)
        path = f"{prefix}{file.relative_to(folder).as_posix()}"
        store.db.run(record, PROJECT, owner, path, blob.digest, blob.size)


def test_logged_models_and_run_folders_load_embedded_and_remote(
    sdk: Context, tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    import xgboost as xgb

    from kiln.registry import _versions
    from kiln.tracking import _artifacts, _experiments, _logged_models, _runs

    model = xgb.XGBClassifier(n_estimators=4, max_depth=2).fit(frame, labels)
    folder = tmp_path / "saved"
    mlflow.xgboost.save_model(model, folder, input_example=frame.head(2), **QUICK)
    experiment = sdk.db.run(_experiments.ensure_experiment, PROJECT, "mlflow")
    logged = sdk.db.run(_logged_models.create_logged_model, PROJECT, experiment.id)
    _upload(sdk, folder, _logged_models.record_model_artifact, logged.id)
    run = sdk.db.run(_runs.create_run, PROJECT, experiment.id)
    _upload(sdk, folder, _artifacts.record_artifact, run.id, "xgb/")
    artifacts = f"mlflow-artifacts:/{experiment.id}/{run.id}/artifacts/xgb"
    for source in (f"models:/{logged.id}", artifacts):
        sdk.db.run(
            _versions.create_model_version,
            PROJECT,
            "mlflow-xgb",
            source,
            create_model=True,
            require_manifest=False,
        )

    # A logged model whose upload did not finish is refused.
    with pytest.raises(Conflict, match="PENDING"):
        registry.load_model("models:/mlflow-xgb/1")
    sdk.db.run(_logged_models.finalize_logged_model, PROJECT, logged.id, "READY")

    expected = model.predict_proba(frame)
    for uri in ("models:/mlflow-xgb/1", "models:/mlflow-xgb/2", f"runs:/{run.id}/xgb"):
        loaded = registry.load_model(uri)
        assert loaded.manifest.serialization == "xgboost-ubj"
        np.testing.assert_allclose(loaded.predict_proba(frame), expected)
    # Same files, same digests: one cached copy for all three.
    home = kiln.get_context().settings.home
    assert len(list((home / "cache" / "models" / "mlflow").iterdir())) == 1
    with pytest.raises(NotFound, match="m-0000"):
        registry.load_model("models:/m-0000")
