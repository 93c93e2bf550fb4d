"""The SDK's study verbs on the current context: thin over ``_studies``."""

from __future__ import annotations

from kiln.context import get_context
from kiln.training._studies import StudySummary

__all__ = ["delete_study", "get_study", "list_studies"]


def get_study(name: str) -> StudySummary:
    """Study ``name`` with its trials and best trial(s)."""
    from kiln.training import _studies

    context = get_context()
    return context.db.read(_studies.get_study, context.settings.project, name)


def list_studies() -> list[StudySummary]:
    """The project's studies, newest first."""
    from kiln.training import _studies

    context = get_context()
    return context.db.read(_studies.list_studies, context.settings.project)


def delete_study(name: str) -> None:
    """Delete study ``name`` and its trials; the runs of its trials stay."""
    from kiln.training import _studies

    context = get_context()
    context.db.run(_studies.delete_study, context.settings.project, name)
