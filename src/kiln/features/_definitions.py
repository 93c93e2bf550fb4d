"""Feature definitions as code: entities, typed fields, feature views and services.

Plain frozen dataclasses, checked when made, so a mistake surfaces where it
is written, not at the first read. ``to_dict`` gives each a canonical JSON
form: it is what ``apply`` will version and diff, so two definitions are the
same exactly when their dictionaries are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from kiln.features._sources import Source

__all__ = ["TYPES", "Entity", "FeatureService", "FeatureView", "Field"]

#: Declarable value types, each with the Arrow types a source column may hold for it.
TYPES: dict[str, tuple[str, ...]] = {
    "int64": ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"),
    "float64": ("float", "double", "halffloat"),
    "string": ("string", "large_string"),
    "bool": ("bool",),
    "timestamp": ("timestamp",),
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or "__" in name:
        raise InvalidInput(
            f"{what} name {name!r} is not valid: use letters, digits and single underscores, "
            "starting with a letter (a double underscore separates view and feature names)",
            field="name",
        )
    return name


def _check_type(dtype: str, where: str) -> str:
    if dtype not in TYPES:
        raise InvalidInput(
            f"{where}: unknown type {dtype!r}; use one of {', '.join(TYPES)}", field="dtype"
        )
    return dtype


def arrow_family(arrow_type: pa.DataType) -> str:
    """The declarable type an Arrow column type reads as, or its own name."""
    import pyarrow.types as t

    if t.is_dictionary(arrow_type):
        return arrow_family(arrow_type.value_type)
    if t.is_timestamp(arrow_type) or t.is_date(arrow_type):  # a date reads as its midnight, UTC
        return "timestamp"
    name = str(arrow_type)
    for declared, accepted in TYPES.items():
        if name in accepted:
            return declared
    return name


def arrow_type(dtype: str) -> pa.DataType:
    """The Arrow type a declared type is stored as."""
    import pyarrow as pa

    return {
        "int64": pa.int64(),
        "float64": pa.float64(),
        "string": pa.string(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }[dtype]


def _tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise InvalidInput(f"tags must map text to text, got {tags!r}", field="tags")
    return dict(sorted(tags.items()))


@dataclass(frozen=True, slots=True)
class Field:
    """A typed column: a feature, or a join key."""

    name: str
    dtype: str
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name, "field")
        _check_type(self.dtype, f"field {self.name!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "description": self.description}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Field:
        return cls(str(data["name"]), str(data["dtype"]), str(data.get("description", "")))


@dataclass(frozen=True, slots=True)
class Entity:
    """What features describe (a customer, a merchant), identified by its typed join keys."""

    name: str
    join_keys: Mapping[str, str]
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.name, "entity")
        if not isinstance(self.join_keys, Mapping) or not self.join_keys:
            raise InvalidInput(
                f"entity {self.name!r} needs join keys with their types, e.g. "
                "{'customer_id': 'int64'}",
                field="join_keys",
            )
        for key, dtype in self.join_keys.items():
            _check_name(key, f"entity {self.name!r} join key")
            _check_type(dtype, f"entity {self.name!r} join key {key!r}")
        object.__setattr__(self, "join_keys", dict(self.join_keys))
        object.__setattr__(self, "tags", _tags(self.tags))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "join_keys": dict(self.join_keys),
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Entity:
        return cls(
            name=str(data["name"]),
            join_keys=dict(data["join_keys"]),
            description=str(data.get("description", "")),
            owner=str(data.get("owner", "")),
            tags=dict(data.get("tags", {})),
        )


@dataclass(frozen=True, slots=True)
class FeatureView:
    """Features of some entities, read from a source with an event time per row.

    ``ttl`` bounds how old a value may be and still count (None: any age);
    ``created_timestamp`` ranks rows of the same event time (a late
    correction wins). See docs/features.md for the exact semantics.
    """

    name: str
    entities: Sequence[Entity]
    source: Source
    features: Sequence[Field]
    event_timestamp: str = "event_timestamp"
    created_timestamp: str | None = None
    ttl: timedelta | None = None
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.name, "feature view")
        entities = tuple(self.entities)
        if not entities or not all(isinstance(e, Entity) for e in entities):
            raise InvalidInput(
                f"feature view {self.name!r} needs at least one Entity", field="entities"
            )
        features = tuple(self.features)
        if not features or not all(isinstance(f, Field) for f in features):
            raise InvalidInput(
                f"feature view {self.name!r} needs at least one Field in features",
                field="features",
            )
        names = [f.name for f in features]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InvalidInput(
                f"feature view {self.name!r} declares {', '.join(repeated)} more than once",
                field="features",
            )
        keys = [key for entity in entities for key in entity.join_keys]
        taken = sorted(set(keys) & {*names, self.event_timestamp, self.created_timestamp or ""})
        if taken:
            raise InvalidInput(
                f"feature view {self.name!r}: {', '.join(taken)} is a join key and cannot also "
                "be a feature or a timestamp",
                field="features",
            )
        if self.ttl is not None and (
            not isinstance(self.ttl, timedelta) or self.ttl < timedelta(0)
        ):
            raise InvalidInput(
                f"feature view {self.name!r}: ttl must be a non-negative timedelta or None, "
                f"got {self.ttl!r}",
                field="ttl",
            )
        object.__setattr__(self, "entities", entities)
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "tags", _tags(self.tags))

    @property
    def join_keys(self) -> dict[str, str]:
        """Every entity's join keys with their types, in order."""
        return {key: dtype for e in self.entities for key, dtype in e.join_keys.items()}

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def read(self) -> pa.Table:
        """Every row of the source, checked against the declaration.

        A source with no rows yet (a push source nothing was pushed to)
        reads as an empty table of the declared columns.
        """
        table = self.source.read()
        if table.num_columns == 0:
            return self.empty_table()
        self.check_columns(table.schema)
        return table

    def empty_table(self) -> pa.Table:
        """No rows, with the declared columns and types."""
        import pyarrow as pa

        columns = {
            **self.join_keys,
            self.event_timestamp: "timestamp",
            **({self.created_timestamp: "timestamp"} if self.created_timestamp else {}),
            **{f.name: f.dtype for f in self.features},
        }
        schema = pa.schema([(name, arrow_type(dtype)) for name, dtype in columns.items()])
        return schema.empty_table()

    def check_columns(self, schema: pa.Schema) -> None:
        """Refuse a source schema that lacks a declared column or holds another type."""
        wanted = {
            **self.join_keys,
            self.event_timestamp: "timestamp",
            **({self.created_timestamp: "timestamp"} if self.created_timestamp else {}),
            **{f.name: f.dtype for f in self.features},
        }
        for column, dtype in wanted.items():
            if column not in schema.names:
                raise InvalidInput(
                    f"feature view {self.name!r}: its source has no column {column!r} "
                    f"(expected {dtype}); it has {', '.join(schema.names)}",
                    field="source",
                )
            found = arrow_family(schema.field(column).type)
            if found != dtype:
                raise InvalidInput(
                    f"feature view {self.name!r}: column {column!r} should hold {dtype}, "
                    f"its source holds {schema.field(column).type}",
                    field="source",
                )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entities": [e.name for e in self.entities],
            "source": self.source.to_dict(),
            "features": [f.to_dict() for f in self.features],
            "event_timestamp": self.event_timestamp,
            "created_timestamp": self.created_timestamp,
            "ttl_seconds": None if self.ttl is None else self.ttl.total_seconds(),
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], entities: Mapping[str, Entity]) -> FeatureView:
        """The view ``to_dict`` described; ``entities`` resolves its entity names."""
        from kiln.features._sources import source_from_dict

        missing = [name for name in data["entities"] if name not in entities]
        if missing:
            raise InvalidInput(
                f"feature view {data['name']!r} uses unknown entities {', '.join(missing)}",
                field="entities",
            )
        ttl = data.get("ttl_seconds")
        return cls(
            name=str(data["name"]),
            entities=[entities[name] for name in data["entities"]],
            source=source_from_dict(data["source"]),
            features=[Field.from_dict(item) for item in data["features"]],
            event_timestamp=str(data.get("event_timestamp", "event_timestamp")),
            created_timestamp=data.get("created_timestamp"),
            ttl=None if ttl is None else timedelta(seconds=float(ttl)),
            description=str(data.get("description", "")),
            owner=str(data.get("owner", "")),
            tags=dict(data.get("tags", {})),
        )


@dataclass(frozen=True, slots=True)
class FeatureService:
    """A named set of features a model uses: whole views or ``view:feature`` references."""

    name: str
    features: Sequence[Any]
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.name, "feature service")
        if not self.features:
            raise InvalidInput(f"feature service {self.name!r} needs features", field="features")
        for item in self.features:
            if _is_view(item):
                continue
            if not isinstance(item, str) or item.count(":") != 1:
                raise InvalidInput(
                    f"feature service {self.name!r}: {item!r} is neither a feature view nor "
                    "'view:feature'",
                    field="features",
                )
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "tags", _tags(self.tags))

    def references(self) -> list[str]:
        """Every feature as ``view:feature``, in order."""
        found: list[str] = []
        for item in self.features:
            if _is_view(item):
                found += [f"{item.name}:{name}" for name in item.feature_names]
            else:
                found.append(item)
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "features": self.references(),
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureService:
        return cls(
            name=str(data["name"]),
            features=[str(item) for item in data["features"]],
            description=str(data.get("description", "")),
            owner=str(data.get("owner", "")),
            tags=dict(data.get("tags", {})),
        )


def _is_view(item: Any) -> bool:
    """A feature view or an on-demand one (both have a name and features)."""
    from kiln.features._on_demand import OnDemandFeatureView

    return isinstance(item, FeatureView | OnDemandFeatureView)
