"""Where registry calls go: straight to the metadata store, or to a Kiln server.

``RegistryBackend`` is what the SDK and the CLI talk to. ``LocalBackend``
calls the services through ``Database.run``/``read``; ``RestBackend``
(``_rest.py``) sends the same calls to ``/api/v1`` when ``KILN_SERVER_URL``
is set. Both hand back the same entities.
"""

from __future__ import annotations

import getpass
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from kiln.context import Context, get_context
from kiln.registry import _aliases, _gates, _models, _search, _versions
from kiln.registry._entities import AliasEvent, CheckResult, Gate, ModelVersion, RegisteredModel


class RegistryBackend(ABC):
    """The registry calls the SDK needs from a store, local or remote."""

    project: str

    @abstractmethod
    def create_model_version(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        manifest_sha256: str | None = None,
        flavor: str | None = None,
    ) -> ModelVersion:
        """Register ``source`` as the next version of ``name`` (created if missing)."""

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel: ...

    @abstractmethod
    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """A version by number; ``"latest"`` is the highest number."""

    @abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...

    @abstractmethod
    def search_registered_models(
        self, filter_string: str, order_by: Sequence[str], max_results: int, page_token: str | None
    ) -> tuple[list[RegisteredModel], str | None]: ...

    @abstractmethod
    def search_model_versions(
        self, filter_string: str, order_by: Sequence[str], max_results: int, page_token: str | None
    ) -> tuple[list[ModelVersion], str | None]: ...

    @abstractmethod
    def get_gate(self, name: str, alias: str) -> Gate: ...

    @abstractmethod
    def set_gate(self, name: str, alias: str, checks: Sequence[Mapping[str, Any]]) -> Gate: ...

    @abstractmethod
    def evaluate_gate(
        self, name: str, alias: str, version: int, reported: Sequence[CheckResult]
    ) -> list[CheckResult]: ...

    @abstractmethod
    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        reported: Sequence[CheckResult],
        force: bool,
        note: str,
    ) -> AliasEvent: ...

    @abstractmethod
    def delete_alias(self, name: str, alias: str, *, note: str) -> AliasEvent: ...

    @abstractmethod
    def rollback_alias(self, name: str, alias: str, *, note: str) -> AliasEvent: ...

    @abstractmethod
    def alias_history(self, name: str, alias: str | None) -> list[AliasEvent]: ...


class LocalBackend(RegistryBackend):
    """The registry straight in the metadata store of a context (the caller is trusted)."""

    def __init__(self, context: Context, project: str | None = None) -> None:
        self.context = context
        self.project = project or context.settings.project
        self.user = _user()

    def create_model_version(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        manifest_sha256: str | None = None,
        flavor: str | None = None,
    ) -> ModelVersion:
        return self.context.db.run(
            _versions.create_model_version,
            self.project,
            name,
            source,
            run_id=run_id,
            description=description,
            tags=tags,
            user=self.user,
            create_model=True,
            manifest_sha256=manifest_sha256,
            flavor=flavor,
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.context.db.read(_models.get_registered_model, self.project, name)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        if version == "latest":
            return self.context.db.read(_versions.latest_model_version, self.project, name)
        return self.context.db.read(_versions.get_model_version, self.project, name, version)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.context.db.read(_aliases.get_version_by_alias, self.project, name, alias)

    def search_registered_models(
        self, filter_string: str, order_by: Sequence[str], max_results: int, page_token: str | None
    ) -> tuple[list[RegisteredModel], str | None]:
        return self.context.db.read(
            _search.search_registered_models,
            self.project,
            filter_string=filter_string,
            order_by=order_by,
            max_results=max_results,
            page_token=page_token,
        )

    def search_model_versions(
        self, filter_string: str, order_by: Sequence[str], max_results: int, page_token: str | None
    ) -> tuple[list[ModelVersion], str | None]:
        return self.context.db.read(
            _search.search_model_versions,
            self.project,
            filter_string=filter_string,
            order_by=order_by,
            max_results=max_results,
            page_token=page_token,
        )

    def get_gate(self, name: str, alias: str) -> Gate:
        return self.context.db.read(_gates.get_gate, self.project, name, alias)

    def set_gate(self, name: str, alias: str, checks: Sequence[Mapping[str, Any]]) -> Gate:
        return self.context.db.run(
            _gates.set_gate, self.project, name, alias, checks, actor=self.user
        )

    def evaluate_gate(
        self, name: str, alias: str, version: int, reported: Sequence[CheckResult]
    ) -> list[CheckResult]:
        return self.context.db.read(
            _gates.evaluate_gate, self.project, name, alias, version, reported=reported
        )

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        reported: Sequence[CheckResult],
        force: bool,
        note: str,
    ) -> AliasEvent:
        return self.context.db.run(
            _aliases.set_alias,
            self.project,
            name,
            alias,
            version,
            actor=self.user,
            reported=reported,
            force=force,
            note=note,
        )

    def delete_alias(self, name: str, alias: str, *, note: str) -> AliasEvent:
        return self.context.db.run(
            _aliases.delete_alias, self.project, name, alias, actor=self.user, note=note
        )

    def rollback_alias(self, name: str, alias: str, *, note: str) -> AliasEvent:
        return self.context.db.run(
            _aliases.rollback_alias, self.project, name, alias, actor=self.user, note=note
        )

    def alias_history(self, name: str, alias: str | None) -> list[AliasEvent]:
        return self.context.db.read(_aliases.alias_history, self.project, name, alias)


def backend(context: Context | None = None) -> RegistryBackend:
    """The registry backend of ``context`` (default: the current context); cheap to make."""
    context = context or get_context()
    if context.client is not None:
        from kiln.registry._rest import RestBackend

        return RestBackend(context.client, context.settings.project)
    return LocalBackend(context)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return ""
