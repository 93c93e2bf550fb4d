"""``Context``: the settings with the metadata and artifact stores they point to.

The SDK, the CLI and the server each hold one. Nothing is opened until it is
first used, and nothing is built at import time: ``get_context()`` builds the
default context from ``Settings()`` on first call, ``configure(...)`` replaces it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property
from typing import TYPE_CHECKING, Any

from kiln.config import Settings

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore
    from kiln.client import ApiClient
    from kiln.db import Database

__all__ = ["Context", "child_environment", "configure", "get_context", "using_context"]


class Context:
    """Settings plus the stores they name, opened lazily."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings.load()

    @cached_property
    def db(self) -> Database:
        """The metadata store (migrated on first use when empty)."""
        from kiln.db import Database

        return Database(self.settings.resolved_database_url)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        """The content-addressed artifact store."""
        from kiln.artifacts import ArtifactStore

        return ArtifactStore.from_location(self.settings.resolved_artifact_root)

    @cached_property
    def client(self) -> ApiClient | None:
        """An API client for ``settings.server_url``; None when the store is opened directly.

        SDK functions that run inside user code (tracking, registry, feature
        reads) go through it when it is set, so the same code works embedded
        and against a shared server.
        """
        if not self.settings.server_url:
            return None
        from kiln.client import ApiClient

        token = self.settings.token.get_secret_value() if self.settings.token else None
        return ApiClient(self.settings.server_url, token=token, project=self.settings.project)

    def for_project(self, project: str) -> Context:
        """This context acting in ``project``: the same stores (one pool), another project.

        A server answering for a token's project reads that project's
        registry and features through it. Close this context, not the copy.
        """
        if project == self.settings.project:
            return self
        scoped = Context(self.settings.model_copy(update={"project": project}))
        scoped.__dict__["db"] = self.db  # the cached_properties' slots
        scoped.__dict__["artifacts"] = self.artifacts
        return scoped

    def close(self) -> None:
        """Release pooled database connections and the API client's connection."""
        if "db" in self.__dict__:
            self.db.dispose()
        if self.__dict__.get("client") is not None:
            self.client.close()  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return f"Context(home={str(self.settings.home)!r}, project={self.settings.project!r})"


_default: Context | None = None
_default_lock = threading.Lock()
_current: ContextVar[Context | None] = ContextVar("kiln_current_context", default=None)


@contextmanager
def using_context(context: Context) -> Iterator[Context]:
    """Make ``get_context()`` return ``context`` inside the block (this thread or task only).

    A pipeline step runs in it, so ``kiln.data.load`` or ``kiln.start_run`` in
    the step's code use the stores and project of the run, not the process's.
    """
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def get_context() -> Context:
    """The context of the running pipeline step, else the process-wide default.

    The default is built from ``Settings()`` on first use.
    """
    current = _current.get()
    if current is not None:
        return current
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Context()
    return _default


def configure(settings: Settings | None = None, **overrides: Any) -> Context:
    """Replace the default context: ``kiln.configure(home="/data/kiln", project="fraud")``.

    Keyword overrides take precedence over environment variables and kiln.toml.
    """
    global _default
    if settings is not None and overrides:
        raise TypeError("pass either a Settings object or keyword overrides, not both")
    context = Context(settings if settings is not None else Settings.load(**overrides))
    with _default_lock:
        previous, _default = _default, context
    if previous is not None:
        previous.close()
    return context


def child_environment(
    context: Context, project: str | None = None, *, base: dict[str, str] | None = None
) -> dict[str, str]:
    """This process's environment (or ``base``), pointing a child process at ``context``'s stores.

    Whatever a ``kiln.toml`` in the child's folder says, the child (a
    retraining pipeline an alert starts, a training job's supervisor) opens
    the same database and artifact root, in ``project``, with its output
    unbuffered so it can be followed. A scheduled pipeline, an alert's
    retraining run and a training job all start this way.
    """
    import os

    settings = context.settings
    env = dict(os.environ if base is None else base)
    env.update(
        KILN_HOME=str(settings.home),
        KILN_DATABASE_URL=settings.resolved_database_url,
        KILN_ARTIFACT_ROOT=settings.resolved_artifact_root,
        KILN_PROJECT=project or settings.project,
        PYTHONUNBUFFERED="1",
    )
    return env
