"""On-demand feature views: features computed at read time from request data and other features.

A transformation — a Python function from a pandas DataFrame to a pandas
DataFrame — runs on the same kind of input offline (after the point-in-time
join) and online (after the store read): one column per request field and
per source-view feature, each built through Arrow from its declared type, so
the function sees the same dtypes in training and in serving and gives the
same answers. Its output is checked against the declared features.

The function lives in the definitions file, not in the metadata store (no
pickled code to trust): ``apply`` records its file, name and the SHA-256 of
its source, and a reader that only has the applied definitions imports the
file again and refuses to run a transformation whose source changed since
the apply (``Conflict``: apply again).
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.features._definitions import (
    FeatureView,
    Field,
    _check_name,
    _tags,
    arrow_family,
    arrow_type,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["OnDemandFeatureView", "RequestSource", "Transform", "on_demand_inputs"]

Transform = Callable[["pd.DataFrame"], "pd.DataFrame"]


@dataclass(frozen=True, slots=True)
class RequestSource:
    """Fields a request brings with it (the amount of the payment being scored)."""

    name: str
    schema: Sequence[Field]

    def __post_init__(self) -> None:
        _check_name(self.name, "request source")
        fields = tuple(self.schema)
        if not fields or not all(isinstance(f, Field) for f in fields):
            raise InvalidInput(
                f"request source {self.name!r} needs a schema of Fields", field="schema"
            )
        object.__setattr__(self, "schema", fields)

    def to_dict(self) -> dict[str, Any]:
        return {"request": self.name, "schema": [f.to_dict() for f in self.schema]}


def _code(function: Transform) -> tuple[str, str, str]:
    """(file, source text, SHA-256 of the source) of a transformation."""
    try:
        file = inspect.getsourcefile(function) or ""
        text = inspect.getsource(function)
    except (OSError, TypeError):
        raise InvalidInput(
            f"the transformation {getattr(function, '__name__', function)!r} has no source "
            "file: define it with def in a definitions file",
            field="transform",
        ) from None
    return os.path.abspath(file), text, hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class OnDemandFeatureView:
    """Features computed by ``transform`` from request fields and source views' features."""

    name: str
    sources: Sequence[FeatureView | RequestSource]
    features: Sequence[Field]
    transform: Transform | None
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Where the transformation is (filled from ``transform``, or from the applied spec).
    code_file: str = ""
    code_name: str = ""
    code_sha256: str = ""
    code: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name, "on-demand feature view")
        sources = tuple(self.sources)
        if not sources or not all(isinstance(s, FeatureView | RequestSource) for s in sources):
            raise InvalidInput(
                f"on-demand feature view {self.name!r} needs sources: FeatureViews and "
                "RequestSources",
                field="sources",
            )
        features = tuple(self.features)
        if not features or not all(isinstance(f, Field) for f in features):
            raise InvalidInput(
                f"on-demand feature view {self.name!r} needs at least one Field in features",
                field="features",
            )
        inputs = [name for source in sources for name in _input_names(source)]
        repeated = sorted({n for n in inputs if inputs.count(n) > 1})
        if repeated:
            raise InvalidInput(
                f"on-demand feature view {self.name!r}: its sources give {', '.join(repeated)} "
                "more than once; the transformation's input columns must be unique",
                field="sources",
            )
        object.__setattr__(self, "sources", sources)
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "tags", _tags(self.tags))
        if self.transform is not None:
            if not callable(self.transform):
                raise InvalidInput(
                    f"on-demand feature view {self.name!r}: transform must be a function",
                    field="transform",
                )
            file, text, digest = _code(self.transform)
            object.__setattr__(self, "code_file", file)
            object.__setattr__(self, "code_name", self.transform.__name__)
            object.__setattr__(self, "code", text)
            object.__setattr__(self, "code_sha256", digest)
        elif not self.code_sha256:
            raise InvalidInput(
                f"on-demand feature view {self.name!r} needs a transform function",
                field="transform",
            )

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def views(self) -> list[FeatureView]:
        return [s for s in self.sources if isinstance(s, FeatureView)]

    @property
    def request_fields(self) -> list[Field]:
        return [f for s in self.sources if isinstance(s, RequestSource) for f in s.schema]

    def input_references(self) -> list[str]:
        """The source views' features the transformation reads, as ``view:feature``."""
        return [f"{view.name}:{name}" for view in self.views for name in view.feature_names]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sources": [
                {"view": s.name} if isinstance(s, FeatureView) else s.to_dict()
                for s in self.sources
            ],
            "features": [f.to_dict() for f in self.features],
            "transform": {
                "file": self.code_file,
                "name": self.code_name,
                "sha256": self.code_sha256,
                "code": self.code,
            },
            "description": self.description,
            "owner": self.owner,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], views: Mapping[str, FeatureView]
    ) -> OnDemandFeatureView:
        sources: list[FeatureView | RequestSource] = []
        for item in data["sources"]:
            if "view" in item:
                if item["view"] not in views:
                    raise InvalidInput(
                        f"on-demand feature view {data['name']!r} reads unknown feature view "
                        f"{item['view']!r}",
                        field="sources",
                    )
                sources.append(views[item["view"]])
            else:
                schema = [Field.from_dict(f) for f in item["schema"]]
                sources.append(RequestSource(str(item["request"]), schema))
        code = data["transform"]
        return cls(
            name=str(data["name"]),
            sources=sources,
            features=[Field.from_dict(f) for f in data["features"]],
            transform=None,
            description=str(data.get("description", "")),
            owner=str(data.get("owner", "")),
            tags=dict(data.get("tags", {})),
            code_file=str(code["file"]),
            code_name=str(code["name"]),
            code_sha256=str(code["sha256"]),
            code=str(code.get("code", "")),
        )

    def function(self) -> Transform:
        """The transformation; from its file when this view came from the applied definitions."""
        if self.transform is not None:
            return self.transform
        return _load_transform(self)

    def run(self, inputs: pd.DataFrame) -> pa.Table:
        """The declared features computed from ``inputs``, checked and cast to their types."""
        import pandas as pd
        import pyarrow as pa

        from kiln.features._sources import arrow_of

        try:
            output = self.function()(inputs.copy())
        except (Conflict, NotFound):
            raise
        except Exception as error:
            raise InvalidInput(
                f"the transformation of on-demand feature view {self.name!r} failed: "
                f"{type(error).__name__}: {error}",
                field="transform",
            ) from None
        if not isinstance(output, pd.DataFrame) or len(output) != len(inputs):
            raise InvalidInput(
                f"the transformation of on-demand feature view {self.name!r} must return a "
                f"DataFrame of {len(inputs)} rows, got "
                f"{type(output).__name__} of {len(output) if hasattr(output, '__len__') else '?'}",
                field="transform",
            )
        missing = [f.name for f in self.features if f.name not in output.columns]
        if missing:
            raise InvalidInput(
                f"the transformation of on-demand feature view {self.name!r} did not return "
                f"{', '.join(missing)}",
                field="transform",
            )
        table = arrow_of(output[self.feature_names])
        arrays = {}
        for feature in self.features:
            column = table.column(feature.name)
            found = arrow_family(column.type)
            widened = found == "int64" and feature.dtype == "float64"
            all_null = column.null_count == len(column)
            if found != feature.dtype and not (widened or all_null):
                raise InvalidInput(
                    f"on-demand feature view {self.name!r}: feature {feature.name!r} should "
                    f"hold {feature.dtype}, the transformation returned {column.type}",
                    field="transform",
                )
            arrays[feature.name] = column.cast(arrow_type(feature.dtype))
        return pa.table(arrays)


def _input_names(source: FeatureView | RequestSource) -> list[str]:
    if isinstance(source, FeatureView):
        return source.feature_names
    return [f.name for f in source.schema]


def on_demand_inputs(view: OnDemandFeatureView, columns: Mapping[str, Any]) -> pd.DataFrame:
    """The transformation's input: each column built through Arrow from its declared type.

    ``columns`` maps every input name to an Arrow array or a Python list;
    offline passes the joined Arrow columns, online the values read, and
    both come out as the same pandas dtypes.
    """
    import pyarrow as pa

    declared = {f.name: f.dtype for f in view.request_fields}
    for source in view.views:
        declared.update({f.name: f.dtype for f in source.features})
    missing = [name for name in declared if name not in columns]
    if missing:
        raise InvalidInput(
            f"on-demand feature view {view.name!r} needs the request fields "
            f"{', '.join(missing)}; give them with the entity rows",
            field="entity_rows",
        )
    arrays = {}
    for name, dtype in declared.items():
        value = columns[name]
        try:
            if isinstance(value, pa.ChunkedArray | pa.Array):
                arrays[name] = value.cast(arrow_type(dtype))
            else:
                arrays[name] = pa.array(value, arrow_type(dtype))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            raise InvalidInput(
                f"on-demand feature view {view.name!r}: {name!r} should be {dtype}",
                field=name,
            ) from None
    frame: pd.DataFrame = pa.table(arrays).to_pandas()
    return frame


_LOADED: dict[tuple[str, float], Any] = {}


def _load_transform(view: OnDemandFeatureView) -> Transform:
    from kiln.features._loading import import_file

    path = view.code_file
    try:
        stamp = os.path.getmtime(path)
    except OSError:
        raise NotFound(
            f"on-demand feature view {view.name!r}: its transformation's file {path} is gone; "
            "apply the definitions again from where they are now"
        ) from None
    module = _LOADED.get((path, stamp))
    if module is None:
        module = import_file(path)
        _LOADED[(path, stamp)] = module
    function = getattr(module, view.code_name, None)
    if not callable(function) or _code(function)[2] != view.code_sha256:
        raise Conflict(
            f"on-demand feature view {view.name!r}: its transformation {view.code_name} in "
            f"{path} changed since it was applied; run `kiln features apply` again so training "
            "and serving use the same code"
        )
    found: Transform = function
    return found
