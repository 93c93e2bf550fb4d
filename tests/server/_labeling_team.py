"""The labeling API tests' team: the seed's users with tokens, a real server, calls as each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from kiln import auth
from kiln.context import Context
from kiln.labeling._tasks import list_tasks
from kiln.server import create_app
from kiln.server.background import BackgroundServer
from tests.ui._labeling import PROJECT, USERS


class Team:
    """The server, a client, and a call as each of the seed's users."""

    def __init__(self, context: Context, client: httpx.Client, secrets: dict[str, str]) -> None:
        self.context, self.client, self.secrets = context, client, secrets

    def call(self, user: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.secrets[user]}"}
        return self.client.request(method, path, headers=headers, **kwargs)

    def task_id(self, name: str, key: str) -> int:
        found, _ = self.context.db.read(list_tasks, PROJECT, name, limit=1000)
        return next(t.id for t in found if t.item_key == key)


def member_tokens(context: Context) -> dict[str, str]:
    """Each of ``USERS`` a member of ``PROJECT`` with its role; their tokens' secrets."""
    secrets = {}
    for user, role in USERS.items():
        context.db.run(auth.create_user, user)
        context.db.run(auth.set_member, PROJECT, user, role)
        secrets[user] = context.db.run(auth.create_token, user, PROJECT).secret
    return secrets


@contextmanager
def serving(context: Context, *, timeout: float = 60) -> Iterator[httpx.Client]:
    """A Kiln server over ``context`` on 127.0.0.1 and a client of it, until the block ends."""
    server = BackgroundServer(create_app(context))
    client = httpx.Client(base_url=server.start(), timeout=timeout)
    try:
        yield client
    finally:
        client.close()
        server.stop()
