"""Deployments inside a model server: route each request, copy it to shadows, learn, reload.

A server started with ``deployments=[…]`` loads every arm of each
deployment's policy into its ``ModelSet`` (under a name made from the arm,
``fraud@champion`` → ``fraud-champion``) and routes each request with a
``Router``: the arm that answers, the shadows that get a copy (their
outputs are logged, never returned). Feedback for bandits names the request
(or the arm) and a reward.

A watcher task asks the metadata store each ``poll_seconds`` for the
deployment's revision and, for arms naming an alias, which version the
alias points at. When either moved it loads what is new **first**, in a
thread, while the old models keep answering; then swaps, in one step on
the event loop, the router and the models — a request has the old ones or
the new ones, never a failure between. An arm that fails to load is left
out of the router (its traffic goes to the others, as the policy says) and
reported in ``GET /v1/deployments/{name}``; the models that answered before
keep answering. The bandit's learning is saved to the deployment's record
every ``save_seconds`` and restored at start.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput, KilnError, NotFound, Unavailable
from kiln.serving._deployments import Deployment, arm_uri
from kiln.serving._loaded import ServedModel, load_served
from kiln.serving._models import ModelSet, ModelSpec
from kiln.serving._routing import Route, Router

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["Deployed", "DeploymentSet", "arm_key"]

log = logging.getLogger("kiln.serving")

#: Request ids remembered per deployment, for feedback that names a request.
FEEDBACK_MEMORY = 100_000


def arm_key(arm: str) -> str:
    """The served-model name of an arm: URL-safe (``fraud@champion`` → ``fraud-champion``)."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "-", arm).strip("-.")[:128] or "arm"


@dataclass
class Deployed:
    """One deployment as this server serves it now."""

    record: Deployment
    router: Router
    #: arm → the served model's name in the ModelSet.
    keys: dict[str, str] = field(default_factory=dict)
    #: arm → the registered version it resolved to ("" for a run or folder).
    versions: dict[str, str] = field(default_factory=dict)
    #: arm → why it could not be loaded.
    errors: dict[str, str] = field(default_factory=dict)
    routed: OrderedDict[str, str] = field(default_factory=OrderedDict)

    def remember(self, request_id: str, arm: str) -> None:
        self.routed[request_id] = arm
        if len(self.routed) > FEEDBACK_MEMORY:
            self.routed.popitem(last=False)

    def describe(self) -> dict[str, Any]:
        return {
            **self.record.to_dict(),
            "arms": [
                {
                    "arm": arm,
                    "model": self.keys.get(arm),
                    "version": self.versions.get(arm),
                    "shadow": arm in self.record.policy.shadows,
                    "serving": arm in self.router.available,
                    "error": self.errors.get(arm),
                }
                for arm in self.record.arms()
            ],
            "router": self.router.state(),
        }


class DeploymentSet:
    """The deployments a server serves, their routers, and the watcher that reloads them."""

    def __init__(
        self,
        context: Context,
        names: list[str],
        models: ModelSet,
        *,
        spec: ModelSpec | None = None,
        poll_seconds: float = 1.0,
        save_seconds: float = 10.0,
    ) -> None:
        self.context = context
        self.project = context.settings.project
        self.names = names
        self.models = models
        self.spec = spec or ModelSpec("deployment")
        self.poll_seconds = poll_seconds
        self.save_seconds = save_seconds
        self._live: dict[str, Deployed] = {}

    # -- reading ------------------------------------------------------------------------------

    def get(self, name: str) -> Deployed:
        found = self._live.get(name)
        if found is None:
            served = ", ".join(self._live) or "none"
            raise NotFound(
                f"deployment {name!r} is not served here; served: {served}", field="name"
            )
        return found

    def route(self, name: str, key: str | None) -> tuple[Deployed, Route, ServedModel]:
        deployed = self.get(name)
        route = deployed.router.route(key)
        return deployed, route, self.models.get(deployed.keys[route.arm])

    def shadow_models(self, deployed: Deployed, route: Route) -> list[tuple[str, ServedModel]]:
        return [(arm, self.models.get(deployed.keys[arm])) for arm in route.shadows]

    def feedback(self, name: str, reward: Any, *, request_id: Any, arm: Any) -> str:
        """Teach the deployment's bandit; the arm is the one that answered ``request_id``."""
        deployed = self.get(name)
        if request_id is not None:
            if not isinstance(request_id, str) or request_id not in deployed.routed:
                raise NotFound(
                    f"request {request_id!r} was not answered by deployment {name!r} on this "
                    f"server (it remembers the last {FEEDBACK_MEMORY:,}); send the arm instead",
                    field="request_id",
                )
            arm = deployed.routed[request_id]
        if not isinstance(arm, str) or arm not in deployed.record.arms():
            raise InvalidInput(
                f"arm must be one of {', '.join(deployed.record.arms())}, got {arm!r}",
                field="arm",
            )
        if isinstance(reward, bool) or not isinstance(reward, int | float):
            raise InvalidInput(f"reward must be a number in [0, 1], got {reward!r}", field="reward")
        deployed.router.feedback(arm, float(reward))
        return arm

    # -- loading ------------------------------------------------------------------------------

    async def load_all(self) -> None:
        from kiln.serving._deployments import get_deployment

        for name in self.names:
            record = await asyncio.to_thread(
                self.context.db.read, get_deployment, self.project, name
            )
            deployed = await self._build(record, previous=None)
            if not any(arm.name in deployed.router.available for arm in record.policy.arms):
                why = "; ".join(f"{arm}: {error}" for arm, error in deployed.errors.items())
                raise Unavailable(
                    f"deployment {name!r} has no arm that could be loaded ({why}); "
                    "fix its models or set its traffic to ones that load"
                )
            self._live[name] = deployed

    async def _build(self, record: Deployment, previous: Deployed | None) -> Deployed:
        """``record``'s revision served: its arms loaded, a router over those that loaded."""
        deployed = Deployed(record, router=Router(record.policy, available=()))
        for arm in record.arms():
            key = arm_key(arm)
            deployed.keys[arm] = key
            current = previous.versions.get(arm) if previous else None
            if previous is not None and arm in previous.router.available and current is not None:
                deployed.versions[arm] = current  # loaded already; the alias check moves it
                continue
            try:
                model = await asyncio.to_thread(
                    load_served, arm_uri(arm), name=key, allow_pickle=self.spec.allow_pickle
                )
            except Exception as error:  # a failed arm is never routed to; the rest serve
                deployed.errors[arm] = f"{type(error).__name__}: {error}"
                log.error("deployment %s: arm %s failed to load: %s", record.name, arm, error)
                continue
            self.models.put(model, self.spec)
            deployed.versions[arm] = model.version_label
        loaded = [arm for arm in record.arms() if arm in deployed.versions]
        if previous is not None:
            state = previous.router.state()
            deployed.router = Router.from_state(record.policy, state, available=loaded)
            deployed.routed = previous.routed
        elif record.bandit_state:
            deployed.router = Router.from_state(
                record.policy, record.bandit_state, available=loaded
            )
        else:
            deployed.router = Router(record.policy, available=loaded)
        return deployed

    # -- watching -----------------------------------------------------------------------------

    async def watch(self) -> None:
        """Reload on a new revision or a moved alias; save bandit state; until cancelled."""
        loop = asyncio.get_running_loop()
        saved_at = loop.time()
        while True:
            await asyncio.sleep(self.poll_seconds)
            for name in list(self._live):
                try:
                    await self._refresh(name)
                except Exception as error:  # the store may be down a moment: keep serving
                    log.warning("deployment %s: could not check for changes: %s", name, error)
            if loop.time() - saved_at >= self.save_seconds:
                saved_at = loop.time()
                await self.save_state()

    async def _refresh(self, name: str) -> None:
        from kiln.serving._deployments import deployment_revision, get_deployment

        deployed = self._live[name]
        db = self.context.db
        revision = await asyncio.to_thread(db.read, deployment_revision, self.project, name)
        if revision != deployed.record.revision:
            record = await asyncio.to_thread(db.read, get_deployment, self.project, name)
            self._live[name] = await self._build(record, previous=deployed)
            log.info("deployment %s: now at revision %s", name, record.revision)
            return
        await self._follow_aliases(deployed)

    async def _follow_aliases(self, deployed: Deployed) -> None:
        """Load the version an alias arm now points at, then serve it in place of the old."""
        from kiln.registry._fluent import resolve_version

        for arm in deployed.record.arms():
            uri = arm_uri(arm)
            if "@" not in uri or not uri.startswith("models:/"):
                continue
            try:
                version = await asyncio.to_thread(resolve_version, uri)
            except KilnError:
                continue  # the alias was removed: keep serving what was loaded
            if str(version.version) == deployed.versions.get(arm):
                continue
            key = deployed.keys[arm]
            try:
                model = await asyncio.to_thread(
                    load_served, version.uri, name=key, allow_pickle=self.spec.allow_pickle
                )
            except Exception as error:
                deployed.errors[arm] = f"{type(error).__name__}: {error}"
                log.error(
                    "deployment %s: %s → v%s failed to load: %s",
                    deployed.record.name,
                    arm,
                    version.version,
                    error,
                )
                continue
            self.models.put(model, self.spec)
            deployed.versions[arm] = model.version_label
            deployed.errors.pop(arm, None)
            if arm not in deployed.router.available:
                deployed.router = deployed.router.with_available([*deployed.router.available, arm])
            log.info(
                "deployment %s: %s now serves version %s",
                deployed.record.name,
                arm,
                model.version_label,
            )

    async def save_state(self) -> None:
        from kiln.serving._deployments import save_bandit_state

        for name, deployed in self._live.items():
            if deployed.record.policy.mode != "bandit":
                continue
            try:
                await asyncio.to_thread(
                    self.context.db.run,
                    save_bandit_state,
                    self.project,
                    name,
                    deployed.router.state(),
                )
            except Exception as error:
                log.warning("deployment %s: could not save the bandit's state: %s", name, error)
