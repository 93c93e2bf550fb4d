"""What a skew check found: one ``SkewMismatch`` per entity and feature, per view and overall.

Plain frozen dataclasses, so a report can be kept, compared and printed;
``to_dict`` is the JSON the CLI prints and the HTTP route returns,
``SkewReport.to_frame`` a DataFrame of the mismatches. ``_skew.py`` makes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KINDS", "SkewMismatch", "SkewReport", "ViewSkew"]

#: Mismatch kinds, in the order a reader should worry about them.
KINDS = ("value", "stale", "missing_online", "unexpected_online")


@dataclass(frozen=True, slots=True)
class SkewMismatch:
    """One feature of one entity whose online value is not what training would read."""

    view: str
    key: dict[str, Any]
    feature: str
    kind: str
    online_value: Any
    offline_value: Any
    online_event_timestamp: datetime | None
    offline_event_timestamp: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 text."""
        return {
            "view": self.view,
            "key": {name: _plain(value) for name, value in self.key.items()},
            "feature": self.feature,
            "kind": self.kind,
            "online_value": _plain(self.online_value),
            "offline_value": _plain(self.offline_value),
            "online_event_timestamp": _plain(self.online_event_timestamp),
            "offline_event_timestamp": _plain(self.offline_event_timestamp),
        }


@dataclass(frozen=True, slots=True)
class ViewSkew:
    """The check of one feature view.

    ``population`` counts the entities offline serves at the comparison
    time, ``keys`` the ones sampled from them (every one compared on every
    feature).
    """

    view: str
    watermark: datetime | None
    features: tuple[str, ...]
    population: int
    keys: tuple[dict[str, Any], ...]
    mismatches: tuple[SkewMismatch, ...]

    @property
    def values_compared(self) -> int:
        return len(self.keys) * len(self.features)

    @property
    def mismatched_keys(self) -> int:
        return len({tuple(m.key.items()) for m in self.mismatches})

    @property
    def mismatch_rate(self) -> float:
        """Mismatches per (entity, feature) value compared; 0.0 when nothing was compared."""
        return len(self.mismatches) / self.values_compared if self.values_compared else 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def counts(self) -> dict[str, int]:
        """Mismatches per kind (every kind listed)."""
        return {kind: sum(m.kind == kind for m in self.mismatches) for kind in KINDS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "watermark": _plain(self.watermark),
            "features": list(self.features),
            "population": self.population,
            "sampled": len(self.keys),
            "values_compared": self.values_compared,
            "mismatches": len(self.mismatches),
            "mismatched_keys": self.mismatched_keys,
            "mismatch_rate": self.mismatch_rate,
            "counts": self.counts(),
            "ok": self.ok,
            "keys": [{name: _plain(v) for name, v in key.items()} for key in self.keys],
            "details": [m.to_dict() for m in self.mismatches],
        }


@dataclass(frozen=True, slots=True)
class SkewReport:
    """The skew check of some feature views; ``skipped`` says why a view was not checked."""

    views: tuple[ViewSkew, ...]
    sample: int
    seed: int
    tolerance: float
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No mismatch in any view checked."""
        return all(view.ok for view in self.views)

    @property
    def mismatches(self) -> list[SkewMismatch]:
        return [m for view in self.views for m in view.mismatches]

    def view(self, name: str) -> ViewSkew:
        """The check of the view ``name``."""
        for found in self.views:
            if found.view == name:
                return found
        raise KeyError(name)

    def to_frame(self) -> pd.DataFrame:
        """One row per mismatch: view, each join key, feature, kind, both values and times."""
        import pandas as pd

        keys = list(dict.fromkeys(k for m in self.mismatches for k in m.key))
        rows = [
            {
                "view": m.view,
                **{k: m.key.get(k) for k in keys},
                "feature": m.feature,
                "kind": m.kind,
                "online_value": m.online_value,
                "offline_value": m.offline_value,
                "online_event_timestamp": m.online_event_timestamp,
                "offline_event_timestamp": m.offline_event_timestamp,
            }
            for m in self.mismatches
        ]
        columns = ["view", *keys, "feature", "kind", "online_value", "offline_value"]
        columns += ["online_event_timestamp", "offline_event_timestamp"]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``kiln features skew --json`` prints and the HTTP route returns."""
        return {
            "ok": self.ok,
            "sample": self.sample,
            "seed": self.seed,
            "tolerance": self.tolerance,
            "views": [view.to_dict() for view in self.views],
            "skipped": dict(self.skipped),
        }


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
