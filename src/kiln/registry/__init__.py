"""The model registry: registered models, numbered versions, aliases, gates and their history.

::

    _fluent.py        the SDK: register_model, set_alias, rollback_alias, set_gate, …
      │  _callable.py   runs a gate's callable checks here, in the caller's process
      │  _load.py       load_model(uri): runs:/, models:/<name>/<version>|latest,
      │                 models:/<name>@<alias>, folders; cached under
      │                 $KILN_HOME/cache/models/<manifest sha256>, always verified
      ▼
    _backend.py       RegistryBackend: LocalBackend (store) | _rest.RestBackend (server)
      ▼
    _models.py        registered models: create, get, rename, describe, tag, delete
    _versions.py      versions: register from runs:/ (checked against the run's
                      artifacts) or a folder; get, describe, tag, delete
    _aliases.py       set (through the gate), delete, rollback, history: each move
                      an AliasEvent (who, when, from, to, gate results, forced)
    _gates.py         the checks an alias requires; metric checks evaluated in the
                      transaction of the move
    _search.py        tracking's filter language over models and versions
                      services: plain functions taking a Session first
    _checks.py        check JSON (metric_threshold, beats_current, callable) and results
    _entities.py      RegisteredModel, ModelVersion, AliasEvent, Gate, checks, CheckResult
    _names.py, _uri.py, _wire.py   rules for names; models:/ URIs; JSON for the REST API

A version records the SHA-256 of its ``kiln-model.yaml``; the manifest lists
the SHA-256 of every other file, so a version's files cannot change unnoticed.
Gates fail closed: a check that cannot be evaluated fails. See docs/registry.md.
"""

from kiln.registry._entities import (
    AliasAction,
    AliasEvent,
    BeatsCurrent,
    CallableCheck,
    Check,
    CheckResult,
    Gate,
    MetricThreshold,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
)
from kiln.registry._fluent import (
    alias_history,
    check_gate,
    delete_alias,
    get_gate,
    get_model_version,
    get_model_version_by_alias,
    get_registered_model,
    register_model,
    rollback_alias,
    search_model_versions,
    search_registered_models,
    set_alias,
    set_gate,
)
from kiln.registry._load import load_model
from kiln.registry._uri import ModelRef, parse_models_uri

__all__ = [
    "AliasAction",
    "AliasEvent",
    "BeatsCurrent",
    "CallableCheck",
    "Check",
    "CheckResult",
    "Gate",
    "MetricThreshold",
    "ModelRef",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
    "alias_history",
    "check_gate",
    "delete_alias",
    "get_gate",
    "get_model_version",
    "get_model_version_by_alias",
    "get_registered_model",
    "load_model",
    "parse_models_uri",
    "register_model",
    "rollback_alias",
    "search_model_versions",
    "search_registered_models",
    "set_alias",
    "set_gate",
]
