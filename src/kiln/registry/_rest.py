"""``RestBackend``: the registry SDK's calls sent to a Kiln server's ``/api/v1``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from kiln.client import ApiClient
from kiln.registry import _wire
from kiln.registry._backend import RegistryBackend
from kiln.registry._checks import result_from_json, result_to_json
from kiln.registry._entities import AliasEvent, CheckResult, Gate, ModelVersion, RegisteredModel


def _model(name: str) -> str:
    return f"/registered-models/{quote(name, safe='')}"


def _alias(name: str, alias: str) -> str:
    return f"{_model(name)}/aliases/{quote(alias, safe='')}"


class RestBackend(RegistryBackend):
    """The registry through a Kiln server (``KILN_SERVER_URL``, token from ``KILN_TOKEN``).

    The server records its caller (the token's user) as the actor of events
    and the creator of versions.
    """

    def __init__(self, client: ApiClient, project: str) -> None:
        self.client = client
        self.project = project

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
        body: dict[str, Any] = {
            "name": name,
            "source": source,
            "run_id": run_id,
            "description": description,
            "tags": dict(tags or {}),
            "manifest_sha256": manifest_sha256,
            "flavor": flavor,
            "create_model": True,
        }
        data = self.client.request("POST", "/model-versions", json_body=body)
        return _wire.version_from_json(data)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return _wire.model_from_json(self.client.request("GET", _model(name)))

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        path = f"{_model(name)}/versions/{quote(str(version), safe='')}"
        return _wire.version_from_json(self.client.request("GET", path))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return _wire.version_from_json(self.client.request("GET", _alias(name, alias)))

    def _search(
        self,
        path: str,
        filter_string: str,
        order_by: Sequence[str],
        max_results: int,
        page_token: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        data = self.client.request(
            "POST",
            path,
            json_body={
                "filter": filter_string,
                "order_by": list(order_by),
                "max_results": max_results,
                "page_token": page_token,
            },
        )
        return list(data["items"]), data.get("next_page_token")

    def search_registered_models(
        self, filter_string: str, order_by: Sequence[str], max_results: int, page_token: str | None
    ) -> tuple[list[RegisteredModel], str | None]:
        items, token = self._search(
            "/registered-models/search", filter_string, order_by, max_results, page_token
        )
        return [_wire.model_from_json(item) for item in items], token

    def search_model_versions(
        self, filter_string: str, order_by: Sequence[str], max_results: int, page_token: str | None
    ) -> tuple[list[ModelVersion], str | None]:
        items, token = self._search(
            "/model-versions/search", filter_string, order_by, max_results, page_token
        )
        return [_wire.version_from_json(item) for item in items], token

    def get_gate(self, name: str, alias: str) -> Gate:
        path = f"{_model(name)}/gates/{quote(alias, safe='')}"
        return _wire.gate_from_json(self.client.request("GET", path))

    def set_gate(self, name: str, alias: str, checks: Sequence[Mapping[str, Any]]) -> Gate:
        path = f"{_model(name)}/gates/{quote(alias, safe='')}"
        data = self.client.request("PUT", path, json_body={"checks": list(checks)})
        return _wire.gate_from_json(data)

    def evaluate_gate(
        self, name: str, alias: str, version: int, reported: Sequence[CheckResult]
    ) -> list[CheckResult]:
        data = self.client.request(
            "POST",
            f"{_alias(name, alias)}/check",
            json_body={"version": version, "reported": [result_to_json(r) for r in reported]},
        )
        return [result_from_json(item) for item in data["results"]]

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
        data = self.client.request(
            "PUT",
            _alias(name, alias),
            json_body={
                "version": version,
                "reported": [result_to_json(r) for r in reported],
                "force": force,
                "note": note,
            },
        )
        return _wire.event_from_json(data)

    def delete_alias(self, name: str, alias: str, *, note: str) -> AliasEvent:
        data = self.client.request("DELETE", _alias(name, alias), params={"note": note or None})
        return _wire.event_from_json(data)

    def rollback_alias(self, name: str, alias: str, *, note: str) -> AliasEvent:
        data = self.client.request(
            "POST", f"{_alias(name, alias)}/rollback", json_body={"note": note}
        )
        return _wire.event_from_json(data)

    def alias_history(self, name: str, alias: str | None) -> list[AliasEvent]:
        path = f"{_model(name)}/alias-events" if alias is None else f"{_alias(name, alias)}/history"
        return [_wire.event_from_json(item) for item in self.client.request("GET", path)]
