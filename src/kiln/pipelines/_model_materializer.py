"""Models as Kiln model folders (``kiln.models.save_model``), one blob per file.

The root blob is a small JSON index of the folder's files and their digests;
loading exports them into a temporary folder and calls ``load_model`` with
``native=True``, so the next step gets the estimator itself. Only models a
real flavor recognises are taken (not ``python_function``, which matches
anything with ``predict``), and never as pickles.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.pipelines._materializer import Materializer

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore

__all__ = ["KilnModelMaterializer"]

_CATCH_ALL = "python_function"


class KilnModelMaterializer(Materializer):
    """Any model a Kiln flavor saves (scikit-learn, XGBoost, LightGBM, PyTorch, ONNX)."""

    name = "kiln_model"
    version = "1"

    def handles(self, obj: object) -> bool:
        from kiln.models import get_flavor, known_flavors

        return any(get_flavor(name).detect(obj) for name in known_flavors() if name != _CATCH_ALL)

    def save(self, obj: Any, store: ArtifactStore) -> str:
        from kiln.models import save_model

        with tempfile.TemporaryDirectory(prefix="kiln-model-") as scratch:
            folder = Path(scratch) / "model"
            info = save_model(obj, folder)
            files = []
            for entry in info.files:
                blob = store.put_file(folder / entry.path)
                files.append({"path": entry.path, "digest": blob.digest, "size": blob.size})
        index = {"format": "kiln-model", "flavor": info.flavor, "files": files}
        return store.put_bytes(json.dumps(index, sort_keys=True).encode()).digest

    def load(self, store: ArtifactStore, digest: str) -> Any:
        from kiln.models import load_model

        index = self._index(store, digest)
        with tempfile.TemporaryDirectory(prefix="kiln-model-") as scratch:
            for file in index["files"]:
                store.export(file["digest"], scratch, file["path"])
            return load_model(scratch, native=True)

    def blobs(self, store: ArtifactStore, digest: str) -> list[str]:
        if not store.exists(digest):
            return [digest]
        return [digest, *(file["digest"] for file in self._index(store, digest)["files"])]

    @staticmethod
    def _index(store: ArtifactStore, digest: str) -> dict[str, Any]:
        index: dict[str, Any] = json.loads(store.read_bytes(digest))
        return index
