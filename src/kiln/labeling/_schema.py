"""The label schema of a labeling project, and the check every label passes.

Every label that enters the store — an annotator's answer, a reviewer's
decision, a model's pre-annotation, a gold answer — goes through
:meth:`LabelSchema.check`, so a label the schema does not allow is refused
with the reason, never stored or dropped silently (Label Studio drops
pre-annotations that do not match its configuration without a word).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kiln.errors import InvalidInput

__all__ = ["DATA_KINDS", "TASK_TYPES", "LabelSchema", "Span"]

TASK_TYPES = ("classification", "multilabel", "ner")
DATA_KINDS = ("tabular", "text", "image")
MAX_LABELS = 1000
MAX_LABEL_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Span:
    """A named-entity span: characters ``[start, end)`` of the text, and its entity label."""

    start: int
    end: int
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "label": self.label}


def _labels(labels: Any) -> tuple[str, ...]:
    if isinstance(labels, str) or not isinstance(labels, Sequence) or not labels:
        raise InvalidInput("labels must be a non-empty list of names", field="schema.labels")
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"a schema takes up to {MAX_LABELS} labels", field="schema.labels")
    for label in labels:
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_LENGTH:
            raise InvalidInput(
                f"label {label!r} must be a non-empty string of up to {MAX_LABEL_LENGTH} "
                "characters",
                field="schema.labels",
            )
    if len(set(labels)) != len(labels):
        raise InvalidInput("labels lists a name twice", field="schema.labels")
    return tuple(labels)


@dataclass(frozen=True)
class LabelSchema:
    """What a project asks: the task type, the kind of item, the labels, the fields shown.

    ``text_field`` names the item's text (text and ``ner`` tasks), ``image_field``
    its image (a path or URL), ``fields`` the columns a tabular item shows
    (all when empty).
    """

    task_type: str
    data_kind: str
    labels: tuple[str, ...]
    text_field: str | None = None
    image_field: str | None = None
    fields: tuple[str, ...] = ()
    instructions: str = ""
    #: Keyboard shortcuts: one key per label, in order (1-9, then letters; none past 35).
    shortcuts: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, value: Mapping[str, Any] | LabelSchema) -> LabelSchema:
        """A checked schema from a mapping (``{"task_type": ..., "labels": [...]}``)."""
        if isinstance(value, LabelSchema):
            return value
        if not isinstance(value, Mapping):
            raise InvalidInput("the schema must be a mapping", field="schema")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(value) - known)
        if unknown:
            raise InvalidInput(
                f"the schema has unknown field(s) {', '.join(unknown)}; it takes "
                + ", ".join(sorted(known)),
                field=f"schema.{unknown[0]}",
            )
        task_type = value.get("task_type", "classification")
        if task_type not in TASK_TYPES:
            raise InvalidInput(
                f"task_type {task_type!r} is not one of {', '.join(TASK_TYPES)}",
                field="schema.task_type",
            )
        data_kind = value.get("data_kind", "text" if task_type == "ner" else "tabular")
        if data_kind not in DATA_KINDS:
            raise InvalidInput(
                f"data_kind {data_kind!r} is not one of {', '.join(DATA_KINDS)}",
                field="schema.data_kind",
            )
        if task_type == "ner" and data_kind != "text":
            raise InvalidInput("named-entity spans are marked on text", field="schema.data_kind")
        labels = _labels(value.get("labels"))
        text_field = value.get("text_field")
        image_field = value.get("image_field")
        if data_kind == "text" and not (isinstance(text_field, str) and text_field):
            raise InvalidInput("a text task names its text_field", field="schema.text_field")
        if data_kind == "image" and not (isinstance(image_field, str) and image_field):
            raise InvalidInput("an image task names its image_field", field="schema.image_field")
        fields = value.get("fields", ())
        if isinstance(fields, str) or not all(isinstance(f, str) and f for f in fields):
            raise InvalidInput("fields must be a list of column names", field="schema.fields")
        shortcuts = tuple(value.get("shortcuts") or _default_shortcuts(len(labels)))
        if shortcuts and (len(shortcuts) != len(labels) or len(set(shortcuts)) != len(shortcuts)):
            raise InvalidInput(
                "shortcuts gives one distinct key per label", field="schema.shortcuts"
            )
        instructions = value.get("instructions", "")
        if not isinstance(instructions, str):
            raise InvalidInput("instructions must be text", field="schema.instructions")
        return cls(
            task_type,
            data_kind,
            labels,
            text_field,
            image_field,
            tuple(fields),
            instructions,
            shortcuts,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_type": self.task_type,
            "data_kind": self.data_kind,
            "labels": list(self.labels),
            "text_field": self.text_field,
            "image_field": self.image_field,
            "fields": list(self.fields),
            "instructions": self.instructions,
            "shortcuts": list(self.shortcuts),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def shown_fields(self, columns: Sequence[str]) -> list[str]:
        """The columns of a source table a task keeps (its snapshot)."""
        wanted = [f for f in (self.text_field, self.image_field) if f] + list(self.fields)
        if not wanted:
            return list(columns)
        missing = [f for f in dict.fromkeys(wanted) if f not in columns]
        if missing:
            raise InvalidInput(
                f"the source has no column(s) {', '.join(missing)}; it has " + ", ".join(columns),
                field="schema",
            )
        return list(dict.fromkeys(wanted))

    def check(
        self, label: Any, data: Mapping[str, Any] | None = None, *, what: str = "label"
    ) -> Any:
        """``label`` in its stored form, or ``InvalidInput`` saying why the schema refuses it."""
        if self.task_type == "classification":
            if label not in self.labels:
                raise InvalidInput(
                    f"{what} {label!r} is not one of the project's labels "
                    f"({', '.join(self.labels)})",
                    field="label",
                )
            return label
        if self.task_type == "multilabel":
            if isinstance(label, str) or not isinstance(label, Sequence):
                raise InvalidInput(f"{what} must be a list of labels, got {label!r}", field="label")
            unknown = [item for item in label if item not in self.labels]
            if unknown:
                raise InvalidInput(
                    f"{what} holds {unknown!r}, not among the project's labels "
                    f"({', '.join(self.labels)})",
                    field="label",
                )
            if len(set(label)) != len(label):
                raise InvalidInput(f"{what} lists a label twice", field="label")
            return sorted(label, key=self.labels.index)
        return [span.to_dict() for span in self._spans(label, data, what)]

    def _spans(self, label: Any, data: Mapping[str, Any] | None, what: str) -> list[Span]:
        if isinstance(label, str | bytes) or not isinstance(label, Sequence):
            raise InvalidInput(f"{what} must be a list of spans, got {label!r}", field="label")
        text = None if data is None or self.text_field is None else data.get(self.text_field)
        spans = []
        for item in label:
            try:
                span = Span(int(item["start"]), int(item["end"]), item["label"])
            except (KeyError, TypeError, ValueError):
                raise InvalidInput(
                    f"{what}: span {item!r} needs start, end and label", field="label"
                ) from None
            if span.label not in self.labels:
                raise InvalidInput(
                    f"{what}: span label {span.label!r} is not one of {', '.join(self.labels)}",
                    field="label",
                )
            if not 0 <= span.start < span.end or (isinstance(text, str) and span.end > len(text)):
                raise InvalidInput(
                    f"{what}: span [{span.start}, {span.end}) is not inside the text",
                    field="label",
                )
            spans.append(span)
        spans.sort(key=lambda s: (s.start, s.end))
        for before, after in itertools.pairwise(spans):
            if after.start < before.end:
                raise InvalidInput(
                    f"{what}: spans [{before.start}, {before.end}) and [{after.start}, "
                    f"{after.end}) overlap",
                    field="label",
                )
        return spans


def _default_shortcuts(count: int) -> list[str]:
    keys = [str(i) for i in range(1, 10)] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    return keys[:count] if count <= len(keys) else []
