"""The manifest: YAML round trip, strict reading, safe loader only."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kiln.errors import InvalidInput, NotFound
from kiln.models import ColumnSpec, FileEntry, InfraNeeds, Manifest, Signature, read_manifest

DIGEST = "ab" * 32


def manifest() -> Manifest:
    return Manifest(
        flavor="sklearn",
        serialization="skops",
        files=(FileEntry("model.skops", DIGEST, 10),),
        requirements=("numpy==2.0.0",),
        python_version="3.11.7",
        kiln_version="0.1.0",
        created_at="2026-01-01T00:00:00+00:00",
        infra=InfraNeeds(memory_load_mb=3, memory_serve_mb=4, measured=True),
        signature=Signature((ColumnSpec("a", "float64"),), (ColumnSpec("output", "int64"),)),
        flavor_options={"untrusted_types": []},
        metadata={"owner": "me"},
    )


def test_yaml_round_trip() -> None:
    original = manifest()

    text = original.to_yaml()

    assert Manifest.from_yaml(text) == original
    assert "shape: [-1]" in text
    assert text.startswith("format_version: 1\nflavor: sklearn\n")


def test_read_manifest_accepts_the_folder_or_the_file(tmp_path: Path) -> None:
    (tmp_path / "kiln-model.yaml").write_text(manifest().to_yaml())

    assert read_manifest(tmp_path) == read_manifest(tmp_path / "kiln-model.yaml") == manifest()


def test_python_tags_are_not_constructed() -> None:
    text = (
        manifest()
        .to_yaml()
        .replace("flavor: sklearn", "flavor: !!python/object/apply:os.system ['true']")
    )

    with pytest.raises(InvalidInput, match="not valid YAML"):
        Manifest.from_yaml(text)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 2}, "upgrade kiln-ml"),
        ({"flavor": ""}, "'flavor' must be a non-empty string"),
        ({"files": "model.skops"}, "'files' must be a list"),
        ({"files": [{"path": "m", "sha256": "xyz", "size": 1}]}, "malformed sha256"),
        ({"files": [{"path": "m", "sha256": DIGEST, "size": -1}]}, "bad size"),
        ({"files": [{"path": "/etc/passwd", "sha256": DIGEST, "size": 1}]}, "unsafe artifact path"),
        ({"requirements": "numpy"}, "list of strings"),
        ({"infra": {"device": "tpu"}}, "'cpu' or 'gpu'"),
        ({"signature": {"kind": "table"}}, "signature kind"),
        ({"metadata": [1]}, "'metadata' must be a mapping"),
    ],
)
def test_malformed_manifests_are_refused(change: dict[str, object], message: str) -> None:
    data = manifest().to_dict() | change

    with pytest.raises(InvalidInput, match=message):
        Manifest.from_yaml(yaml.safe_dump(data))


def test_not_a_mapping() -> None:
    with pytest.raises(InvalidInput, match="must be a mapping"):
        Manifest.from_yaml("- just a list")


def test_file_lookup() -> None:
    assert manifest().file("model.skops").size == 10
    with pytest.raises(NotFound, match="no file 'other'"):
        manifest().file("other")
