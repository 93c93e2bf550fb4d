"""Reading feature definitions from code: a Python file, or every one in a folder.

What ``kiln features apply PATH`` will register. The module-level entities,
feature views and services of each file are collected (a view's entities
come with it, declared or not). One name naming two different definitions
is refused: the store keeps one definition per name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.errors import InvalidInput, NotFound
from kiln.features._definitions import Entity, FeatureService, FeatureView
from kiln.features._on_demand import OnDemandFeatureView

__all__ = ["Definitions", "import_file", "load_definitions"]


@dataclass
class Definitions:
    """Entities, feature views and services by name."""

    entities: dict[str, Entity] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    services: dict[str, FeatureService] = field(default_factory=dict)
    on_demand: dict[str, OnDemandFeatureView] = field(default_factory=dict)

    @classmethod
    def of(cls, *items: Any, where: str = "code") -> Definitions:
        """Definitions made in code (no file): the items, with their entities and views, checked."""
        found = cls()
        for item in items:
            found.add(item, where)
        found.check()
        return found

    def add(self, item: Any, where: str) -> None:
        if isinstance(item, FeatureView):
            for entity in item.entities:
                self.add(entity, where)
            table: dict[str, Any] = self.views
        elif isinstance(item, OnDemandFeatureView):
            for view in item.views:
                self.add(view, where)
            table = self.on_demand
        elif isinstance(item, Entity):
            table = self.entities
        elif isinstance(item, FeatureService):
            table = self.services
        else:
            return
        known = table.get(item.name)
        if known is not None and known.to_dict() != item.to_dict():
            raise InvalidInput(
                f"{where}: {type(item).__name__} {item.name!r} is defined twice, differently; "
                "give one of them another name",
                field="path",
            )
        table[item.name] = item

    def check(self) -> None:
        """View names are unique across kinds; every service reference names a feature."""
        both = sorted(set(self.views) & set(self.on_demand))
        if both:
            raise InvalidInput(
                f"{', '.join(both)} names both a feature view and an on-demand feature view; "
                "rename one",
                field="name",
            )
        for service in self.services.values():
            for reference in service.references():
                view_name, _, feature = reference.partition(":")
                view = self.views.get(view_name) or self.on_demand.get(view_name)
                if view is None or feature not in view.feature_names:
                    raise InvalidInput(
                        f"feature service {service.name!r} refers to {reference!r}, which no "
                        "feature view defines",
                        field="features",
                    )


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*.py") if not p.name.startswith("_"))
    if path.suffix != ".py":
        raise InvalidInput(f"{path} is not a Python file or a folder of them", field="path")
    return [path]


def import_file(path: str | os.PathLike[str]) -> Any:
    """The module a Python file defines, imported under a private name."""
    return _module(Path(path))


def _module(path: Path) -> Any:
    name = "kiln_features_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise InvalidInput(f"{path} cannot be imported", field="path")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except InvalidInput as error:
        raise InvalidInput(f"{path}: {error}", field=error.field) from None
    except Exception as error:
        raise InvalidInput(
            f"{path} failed to import: {type(error).__name__}: {error}", field="path"
        ) from None
    finally:
        sys.modules.pop(name, None)
    return module


def load_definitions(path: str | os.PathLike[str]) -> Definitions:
    """The definitions in the file ``path``, or in every ``*.py`` file below the folder ``path``."""
    root = Path(path)
    if not root.exists():
        raise NotFound(f"{root} does not exist: point at a Python file of feature definitions")
    found = Definitions()
    for file in _files(root):
        module = _module(file)
        for value in vars(module).values():
            found.add(value, str(file))
    found.check()
    return found
