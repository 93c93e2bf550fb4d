"""The one search box: each area contributes a searcher; results come grouped by kind.

A searcher is ``fn(db, project, text, limit) -> list[Hit]``; a capability that
adds an area appends its searcher to ``SEARCHERS``. Matching is a
case-insensitive substring of names (and an exact run id), through each
area's own search service, so the same indexes serve it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kiln.db import Database


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str
    title: str
    url: str
    detail: str = ""


Searcher = Callable[[Database, str, str, int], list[Hit]]


def _like(text: str) -> str:
    """``text`` as a quoted ILIKE pattern of the filter language (a doubled quote is a quote)."""
    return "'%" + text.replace("'", "''") + "%'"


def search_experiments(db: Database, project: str, text: str, limit: int) -> list[Hit]:
    from kiln.tracking import _search

    found, _ = db.read(
        _search.search_experiments,
        project,
        filter_string=f"name ILIKE {_like(text)}",
        max_results=limit,
    )
    return [Hit("Experiment", e.name, f"/experiments/{e.id}", e.description or "") for e in found]


def search_runs(db: Database, project: str, text: str, limit: int) -> list[Hit]:
    from kiln.errors import NotFound
    from kiln.tracking import _runs, _search

    hits: list[Hit] = []
    if len(text) == 32 and all(c in "0123456789abcdef" for c in text.lower()):
        try:
            run = db.read(_runs.get_run, project, text.lower())
            hits.append(Hit("Run", run.name or run.id, f"/runs/{run.id}", f"run id {run.id}"))
        except NotFound:
            pass
    found, _ = db.read(
        _search.search_runs,
        project,
        filter_string=f"attributes.run_name ILIKE {_like(text)}",
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    hits += [
        Hit("Run", r.name or r.id, f"/runs/{r.id}", f"{r.status.value.lower()} · {r.id[:8]}")
        for r in found
        if not hits or r.id != hits[0].url.rsplit("/", 1)[-1]
    ]
    return hits


def search_models(db: Database, project: str, text: str, limit: int) -> list[Hit]:
    from kiln.registry import _search

    found, _ = db.read(
        _search.search_registered_models,
        project,
        filter_string=f"name ILIKE {_like(text)}",
        max_results=limit,
    )
    return [Hit("Model", m.name, f"/models/{m.name}", m.description or "") for m in found]


#: Every area's searcher, in navigation order.
SEARCHERS: tuple[Searcher, ...] = (search_experiments, search_runs, search_models)


def search_everything(db: Database, project: str, text: str, limit: int = 20) -> list[Hit]:
    text = text.strip()
    if not text:
        return []
    return [hit for searcher in SEARCHERS for hit in searcher(db, project, text, limit)]
