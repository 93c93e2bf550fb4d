"""What a model was trained on, recorded so serving fetches exactly those features.

``get_historical_features`` inside an active run tags the run with the
features it returned, the feature service they came from and the version
of every view involved; ``register_model`` copies those tags to the model
version (``kiln.tracking.INHERITED_RUN_TAGS``). ``TrainingFeatures`` is that
record: written as tags, read back from a model version's tags, and
accepted by ``get_online_features`` in place of a feature list, so that a
server holding only entity keys asks for the same columns, under the same
names, as training saw.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kiln.errors import InvalidInput
from kiln.features._definitions import FeatureService, FeatureView
from kiln.features._on_demand import OnDemandFeatureView
from kiln.tracking._names import (
    FEATURE_SERVICE_TAG,
    FEATURE_VIEWS_TAG,
    FEATURES_TAG,
    FULL_FEATURE_NAMES_TAG,
    MAX_TAG_VALUE_LENGTH,
)

__all__ = ["TrainingFeatures", "training_features"]


@dataclass(frozen=True)
class TrainingFeatures:
    """The features a model was trained on: references, service, view versions, naming."""

    references: tuple[str, ...]
    #: Version of every view the features came from, on-demand ones and their inputs included.
    views: Mapping[str, int] = field(default_factory=dict)
    service: str | None = None
    full_feature_names: bool = False

    def as_tags(self) -> dict[str, str]:
        """The run (and model version) tags that record this."""
        references = json.dumps(list(self.references))
        if len(references) > MAX_TAG_VALUE_LENGTH:
            raise InvalidInput(
                f"the {len(self.references)} feature references do not fit in a "
                f"{MAX_TAG_VALUE_LENGTH}-character tag; group them in a FeatureService",
                field="features",
            )
        tags = {
            FEATURES_TAG: references,
            FEATURE_VIEWS_TAG: json.dumps(dict(sorted(self.views.items()))),
        }
        if self.service:
            tags[FEATURE_SERVICE_TAG] = self.service
        if self.full_feature_names:
            tags[FULL_FEATURE_NAMES_TAG] = "true"
        return tags

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> TrainingFeatures | None:
        """The record in a model version's (or run's) tags; None when it has none."""
        raw = tags.get(FEATURES_TAG)
        if not raw:
            return None
        try:
            references = json.loads(raw)
            views = json.loads(tags.get(FEATURE_VIEWS_TAG) or "{}")
        except json.JSONDecodeError as error:
            raise InvalidInput(
                f"the tags {FEATURES_TAG} / {FEATURE_VIEWS_TAG} are not JSON ({error}); "
                "they are written by get_historical_features inside a run",
                field="tags",
            ) from None
        if not isinstance(references, list) or not isinstance(views, dict):
            raise InvalidInput(
                f"tag {FEATURES_TAG} must be a JSON list and {FEATURE_VIEWS_TAG} a JSON object",
                field="tags",
            )
        return cls(
            references=tuple(str(reference) for reference in references),
            views={str(name): int(version) for name, version in views.items()},
            service=tags.get(FEATURE_SERVICE_TAG) or None,
            full_feature_names=tags.get(FULL_FEATURE_NAMES_TAG, "").lower() == "true",
        )

    def changed_views(self, current: Mapping[str, int]) -> dict[str, tuple[int, int | None]]:
        """``{view: (trained version, current version or None if removed)}`` for what changed."""
        return {
            name: (version, current.get(name))
            for name, version in self.views.items()
            if current.get(name) != version
        }


def training_features(
    chosen: Sequence[tuple[FeatureView | OnDemandFeatureView, list[str]]],
    versions: Mapping[str, int],
    *,
    service: FeatureService | None,
    full_feature_names: bool,
) -> TrainingFeatures:
    """The record of one retrieval: ``chosen`` as ``resolve_features`` returned it.

    ``versions``: the applied version of each view by name.
    """
    references = tuple(f"{view.name}:{name}" for view, names in chosen for name in names)
    involved = [view for view, _ in chosen]
    for view, _ in chosen:
        if isinstance(view, OnDemandFeatureView):
            involved += [source for source in view.sources if isinstance(source, FeatureView)]
    return TrainingFeatures(
        references=references,
        # Views passed in without an apply have no version: they are left out.
        views={view.name: versions[view.name] for view in involved if view.name in versions},
        service=service.name if service is not None else None,
        full_feature_names=full_feature_names,
    )
