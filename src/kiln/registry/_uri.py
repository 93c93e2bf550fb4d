"""``models:/`` URIs: ``models:/<name>/<version>``, ``…/latest`` and ``models:/<name>@<alias>``."""

from __future__ import annotations

from dataclasses import dataclass

from kiln.errors import InvalidInput
from kiln.registry._entities import MODELS_SCHEME
from kiln.registry._names import check_alias, check_model_name, parse_version


@dataclass(frozen=True, slots=True)
class ModelRef:
    """What a ``models:/`` URI names: a version number, ``"latest"``, or an alias."""

    name: str
    version: int | str | None = None
    alias: str | None = None


def parse_models_uri(uri: str) -> ModelRef:
    """``models:/fraud/3`` → ``ModelRef("fraud", 3)``; ``models:/fraud@champion`` → alias."""
    if not isinstance(uri, str) or not uri.startswith(MODELS_SCHEME):
        raise InvalidInput(f"{uri!r} is not a models:/ URI", field="uri")
    rest = uri[len(MODELS_SCHEME) :].lstrip("/")
    usage = "use models:/<name>/<version>, models:/<name>/latest or models:/<name>@<alias>"
    if "/" in rest:
        name, _, version = rest.partition("/")
        check_model_name(name, field="uri")
        if version == "latest":
            return ModelRef(name, "latest")
        if not version or "/" in version:
            raise InvalidInput(f"{uri!r} is malformed: {usage}", field="uri")
        return ModelRef(name, parse_version(version, field="uri"))
    if "@" in rest:
        name, _, alias = rest.rpartition("@")
        return ModelRef(check_model_name(name, field="uri"), alias=check_alias(alias, field="uri"))
    raise InvalidInput(f"{uri!r} names no version or alias: {usage}", field="uri")
