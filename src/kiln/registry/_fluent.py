"""The registry SDK: ``register_model``, ``set_alias``, ``load_model`` and friends.

Calls go to the backend of the current ``kiln.Context``: the metadata store
directly, or a Kiln server when ``KILN_SERVER_URL`` is set.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kiln.errors import InvalidInput
from kiln.registry._backend import backend
from kiln.registry._entities import (
    MODELS_SCHEME,
    AliasEvent,
    CheckResult,
    Gate,
    ModelVersion,
    RegisteredModel,
)
from kiln.registry._names import check_alias, check_model_name, parse_version
from kiln.registry._search import DEFAULT_MAX_RESULTS


def register_model(
    model_uri: Any,
    name: str,
    *,
    tags: Mapping[str, str] | None = None,
    description: str = "",
) -> ModelVersion:
    """Register a model as the next version of ``name`` (the registered model is made if missing).

    ``model_uri`` is ``runs:/<run_id>/<path>`` (what ``kiln.models.log_model``
    returns as ``.uri``; the ``LoggedModel`` itself works too) or a local model
    folder saved by ``kiln.models.save_model``. The version records the SHA-256
    of the model's ``kiln-model.yaml``, which pins every file.
    """
    uri = getattr(model_uri, "uri", model_uri)
    check_model_name(name)
    registry = backend()
    if isinstance(uri, str) and uri.startswith("runs:/"):
        from kiln import tracking
        from kiln.models import parse_runs_uri

        run_id, _ = parse_runs_uri(uri)
        tracking.flush(run_id)  # the flavor tag log_model set may still be buffered
        return registry.create_model_version(
            name, uri, run_id=run_id, description=description, tags=tags
        )
    if isinstance(uri, str) and uri.startswith(MODELS_SCHEME):
        raise InvalidInput(
            f"{uri!r} is a registered version already; register its source instead "
            "(get_model_version(...).source)",
            field="model_uri",
        )
    if not isinstance(uri, str | os.PathLike):
        raise InvalidInput(
            f"model_uri must be a runs:/ URI or a folder, got {type(uri).__name__}",
            field="model_uri",
        )
    from kiln.models import MANIFEST_NAME, read_manifest

    folder = Path(uri).expanduser().resolve()
    manifest = read_manifest(folder)
    digest = hashlib.sha256((folder / MANIFEST_NAME).read_bytes()).hexdigest()
    return registry.create_model_version(
        name,
        str(folder),
        description=description,
        tags=tags,
        manifest_sha256=digest,
        flavor=manifest.flavor,
    )


def get_registered_model(name: str) -> RegisteredModel:
    """A registered model with its tags, aliases and latest version number."""
    return backend().get_registered_model(name)


def search_registered_models(
    filter_string: str = "",
    *,
    order_by: Sequence[str] = (),
    max_results: int = DEFAULT_MAX_RESULTS,
    page_token: str | None = None,
) -> list[RegisteredModel]:
    """Registered models of the current project: ``search_registered_models("name ILIKE 'fr%'")``.

    See docs/registry.md for the filter's identifiers (name, tags.<key>, times).
    """
    models, _ = backend().search_registered_models(filter_string, order_by, max_results, page_token)
    return models


def get_model_version(name: str, version: int | str) -> ModelVersion:
    """Version ``version`` of ``name`` (``"latest"``: the highest number)."""
    if version != "latest":
        version = parse_version(version)
    return backend().get_model_version(name, version)


def get_model_version_by_alias(name: str, alias: str) -> ModelVersion:
    """The version ``alias`` points at (``NotFound`` when the alias is not set)."""
    return backend().get_model_version_by_alias(name, alias)


def search_model_versions(
    filter_string: str = "",
    *,
    order_by: Sequence[str] = (),
    max_results: int = DEFAULT_MAX_RESULTS,
    page_token: str | None = None,
) -> list[ModelVersion]:
    """Model versions of the current project: ``search_model_versions("name = 'fraud'")``."""
    versions, _ = backend().search_model_versions(filter_string, order_by, max_results, page_token)
    return versions


def resolve_version(uri: str) -> ModelVersion:
    """The version a ``models:/`` URI names."""
    from kiln.registry._uri import parse_models_uri

    ref = parse_models_uri(uri)
    registry = backend()
    if ref.alias is not None:
        return registry.get_model_version_by_alias(ref.name, ref.alias)
    assert ref.version is not None
    return registry.get_model_version(ref.name, ref.version)


def set_gate(name: str, alias: str, checks: Sequence[Mapping[str, Any]]) -> Gate:
    """Require ``checks`` before ``alias`` of ``name`` moves (an empty list removes the gate).

    Each check is a dict, e.g. ``{"name": "auc-floor", "type": "metric_threshold",
    "metric": "auc", "op": ">=", "value": 0.8}``; see docs/registry.md.
    """
    return backend().set_gate(name, alias, checks)


def get_gate(name: str, alias: str) -> Gate:
    """The gate of an alias (no checks when none is set)."""
    return backend().get_gate(name, alias)


def _callable_results(name: str, alias: str, version: int) -> list[CheckResult]:
    """Results of the gate's callable checks for ``version`` (none when it has none)."""
    from kiln.registry._callable import run_callable_checks
    from kiln.registry._entities import CallableCheck

    registry = backend()
    gate = registry.get_gate(name, alias)
    if not any(isinstance(check, CallableCheck) for check in gate.checks):
        return []
    found = registry.get_model_version(name, version)

    def load() -> Any:
        from kiln.models import load_model
        from kiln.registry._load import version_folder

        return load_model(version_folder(found))

    return run_callable_checks(gate.checks, load)


def check_gate(name: str, alias: str, version: int | str) -> list[CheckResult]:
    """What the gate of ``alias`` says about ``version`` now, without moving the alias."""
    number = parse_version(version)
    check_alias(alias)
    reported = _callable_results(name, alias, number)
    return backend().evaluate_gate(name, alias, number, reported)


def set_alias(
    name: str, alias: str, version: int | str, *, force: bool = False, note: str = ""
) -> AliasEvent:
    """Point ``alias`` at ``version`` once its gate passes, and return the recorded event.

    Callable checks run here first (they load the model and the dataset); the
    store evaluates the metric checks in the same transaction as the move.
    When a check fails the alias stays and ``Conflict`` names the failed
    checks; ``force=True`` moves it anyway (the server allows that to project
    admins only) and marks the event ``forced``.
    """
    number = parse_version(version)
    check_alias(alias)
    reported = _callable_results(name, alias, number)
    return backend().set_alias(name, alias, number, reported=reported, force=force, note=note)


def delete_alias(name: str, alias: str, *, note: str = "") -> AliasEvent:
    """Remove an alias; recorded as a ``delete`` event."""
    return backend().delete_alias(name, alias, note=note)


def rollback_alias(name: str, alias: str, *, note: str = "") -> AliasEvent:
    """Move ``alias`` back to where it was before its last move still in effect."""
    return backend().rollback_alias(name, alias, note=note)


def alias_history(name: str, alias: str | None = None) -> list[AliasEvent]:
    """Moves of one alias (or of all of the model's aliases), newest first."""
    return backend().alias_history(name, alias)
