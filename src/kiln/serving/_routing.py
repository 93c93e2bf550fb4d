"""Traffic on a deployment: which arm serves a request, and who gets a copy.

::

    TrafficPolicy     the stored description (frozen, validated, to_dict/from_dict as JSON)
    ├── Arm           a model reference ("fraud@champion", "fraud/3") with a weight in %
    └── BanditConfig  the algorithm and its parameters when mode is "bandit"
    Router            built from a policy; route(key) -> Route, feedback(arm, reward), state()
    Route             the decision: arm, shadows (copies, never returned) and reason

In ``split`` mode an arm is chosen by its weight: at random, or — when the
policy names a ``sticky_key`` and the request carries it — by the key's
bucket (``kiln.serving._hashing``), so a user keeps seeing the same arm. In
``bandit`` mode a bandit from ``kiln.serving._bandits`` chooses and learns
from the rewards ``feedback`` passes on. A router knows which arms loaded
(``available``); it never routes to another one, and gives a failed arm's
share to the others in proportion to their weights. docs/serving-traffic.md
is the precise account that other implementations follow.

A router is cheap to build, so a new policy means a new router swapped in
by the server; ``with_available``/``without`` make one that shares this
one's bandit and random source, so learning carries on across the swap.
"""

from __future__ import annotations

import random
import threading
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from itertools import accumulate
from typing import Any, Literal, cast

from kiln.errors import Conflict, InvalidInput, Unavailable
from kiln.serving._bandits import BANDITS, Bandit, is_number
from kiln.serving._hashing import BUCKETS, sticky_hash

__all__ = ["Arm", "BanditConfig", "Route", "Router", "TrafficPolicy"]

Mode = Literal["split", "bandit"]
MODES: tuple[Mode, ...] = ("split", "bandit")


@dataclass(frozen=True, slots=True)
class Arm:
    """A model reference the server maps to a loaded model, and its share in percent.

    ``weight`` is required in split mode (0..100, two decimals at most, all
    arms summing to 100) and absent in bandit mode, where the bandit decides.
    """

    name: str
    weight: float | None = None


@dataclass(frozen=True, slots=True)
class BanditConfig:
    """Which bandit routes, with its parameters; ``seed`` makes its choices repeatable.

    ``epsilon`` (default 0.1) belongs to epsilon_greedy, ``alpha`` and
    ``beta`` (the Beta prior, default 1 and 1) to thompson; ucb1 has none.
    Setting a parameter the algorithm does not read is refused rather than
    ignored, so a stored policy never says more than it does.
    """

    algorithm: str
    epsilon: float | None = None
    alpha: float | None = None
    beta: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in _PARAMS:
            raise InvalidInput(
                f"unknown bandit algorithm {self.algorithm!r}; use one of {sorted(_PARAMS)}",
                field="bandit.algorithm",
            )
        for name in ("epsilon", "alpha", "beta"):
            if getattr(self, name) is not None and name not in _PARAMS[self.algorithm]:
                raise InvalidInput(
                    f"{name} is not a parameter of {self.algorithm} "
                    f"(it takes {sorted(_PARAMS[self.algorithm]) or 'none'})",
                    field=f"bandit.{name}",
                )
        if self.seed is not None and (
            not isinstance(self.seed, int) or isinstance(self.seed, bool)
        ):
            raise InvalidInput(f"seed must be an integer, got {self.seed!r}", field="bandit.seed")
        # The bandit classes check the values themselves; building one here
        # reports a bad epsilon or prior when the policy is made, not on a request.
        try:
            BANDITS[self.algorithm](["probe"], seed=None, **self.params())
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field=f"bandit.{exc.field}") from None

    def params(self) -> dict[str, float]:
        """The algorithm's parameters with their defaults filled in, as its bandit takes them."""
        return {
            name: default if getattr(self, name) is None else getattr(self, name)
            for name, default in _PARAMS[self.algorithm].items()
        }


#: Each algorithm's parameters and their defaults.
_PARAMS: dict[str, dict[str, float]] = {
    "epsilon_greedy": {"epsilon": 0.1},
    "ucb1": {},
    "thompson": {"alpha": 1.0, "beta": 1.0},
}


@dataclass(frozen=True, slots=True)
class TrafficPolicy:
    """A deployment's traffic: its arms, how one is chosen, and its shadows.

    Lists are accepted for ``arms`` and ``shadows`` and stored as tuples.
    Every rule is checked here, so a stored policy is always routable; an
    ``InvalidInput`` names the offending part in ``field`` ("arms[1].weight").
    """

    arms: tuple[Arm, ...]
    mode: Mode = "split"
    sticky_key: str | None = None
    salt: str = ""
    shadows: tuple[str, ...] = ()
    bandit: BanditConfig | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "arms", tuple(self.arms))
        object.__setattr__(self, "shadows", tuple(self.shadows))
        _check_names(self.arms, self.shadows)
        _check_mode(self)
        if self.mode == "split":
            _check_weights(self.arms)

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain JSON, which ``from_dict`` reads back to an equal policy."""
        return {
            "mode": self.mode,
            "arms": [
                {"name": arm.name}
                if arm.weight is None
                else {"name": arm.name, "weight": arm.weight}
                for arm in self.arms
            ],
            "sticky_key": self.sticky_key,
            "salt": self.salt,
            "shadows": list(self.shadows),
            "bandit": None if self.bandit is None else _bandit_dict(self.bandit),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrafficPolicy:
        """A policy from its JSON form; an arm may be written as its bare name."""
        _refuse_unknown(data, _POLICY_KEYS, "")
        arms = data.get("arms")
        if not isinstance(arms, list | tuple):
            raise InvalidInput("a policy needs a list of arms", field="arms")
        bandit = data.get("bandit")
        if bandit is not None and not isinstance(bandit, Mapping):
            raise InvalidInput("bandit must be an object", field="bandit")
        if bandit is not None:
            _refuse_unknown(bandit, frozenset(_BANDIT_KEYS), "bandit.")
            if "algorithm" not in bandit:
                raise InvalidInput("a bandit config needs an algorithm", field="bandit.algorithm")
        shadows = data.get("shadows") or ()
        if not isinstance(shadows, list | tuple):
            raise InvalidInput("shadows must be a list of arm names", field="shadows")
        return cls(
            arms=tuple(_arm_from(entry, i) for i, entry in enumerate(arms)),
            mode=data.get("mode", "split"),
            sticky_key=data.get("sticky_key"),
            salt="" if data.get("salt") is None else data["salt"],
            shadows=tuple(shadows),
            bandit=None if bandit is None else BanditConfig(**bandit),
        )


@dataclass(frozen=True, slots=True)
class Route:
    """One decision: the arm whose output is returned, the shadows that get a copy, and why.

    ``reason`` is "split" (by weight, at random), "sticky" (by the key's
    bucket), "bandit:<algorithm>" or "fallback" (the arm the weights chose
    had not loaded, so another took its place).
    """

    arm: str
    shadows: tuple[str, ...] = ()
    reason: str = "split"


class Router:
    """Routes requests under one policy: cheap per call, safe from many threads.

    ``available`` are the arms and shadows that loaded (default: all of
    them; names outside the policy are ignored). ``seed`` seeds the random
    choices — a split's draws and the bandit's — and defaults to the
    bandit config's seed.
    """

    def __init__(
        self,
        policy: TrafficPolicy,
        *,
        available: Iterable[str] | None = None,
        seed: int | None = None,
    ) -> None:
        if seed is None and policy.bandit is not None:
            seed = policy.bandit.seed
        self.policy = policy
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._bandit = _new_bandit(policy, seed)
        self._plan(_names(policy) if available is None else available)

    @classmethod
    def from_state(
        cls,
        policy: TrafficPolicy,
        state: Mapping[str, Any],
        *,
        available: Iterable[str] | None = None,
        seed: int | None = None,
    ) -> Router:
        """A router that carries on from ``state`` (what ``state()`` returned).

        The policy wins where they differ: its parameters are used, arms it
        adds start fresh, arms it dropped are forgotten, and a state saved
        under another algorithm keeps its counts. A split policy, or a
        state saved in split mode, restores nothing.
        """
        router = cls(policy, available=available, seed=seed)
        if router._bandit is None or state.get("mode") == "split":
            return router
        config = cast(BanditConfig, policy.bandit)
        router._bandit = BANDITS[config.algorithm].from_state(
            state,
            arms=[arm.name for arm in policy.arms],
            params=config.params(),
            seed=config.seed if seed is None else seed,
        )
        return router

    def with_available(self, available: Iterable[str]) -> Router:
        """The same router with another set of loaded arms, sharing bandit and random source."""
        twin = object.__new__(Router)
        twin.policy, twin._rng, twin._lock, twin._bandit = (
            self.policy,
            self._rng,
            self._lock,
            self._bandit,
        )
        twin._plan(available)
        return twin

    def without(self, arms: Iterable[str]) -> Router:
        """``with_available`` minus ``arms`` (those that just failed to load)."""
        return self.with_available(self.available - set(arms))

    def route(self, key: str | None = None) -> Route:
        """The route for one request; ``key`` is its sticky-key value, if it has one.

        The key is used only when the policy names a ``sticky_key`` and the
        key is not empty. Raises ``Unavailable`` when no arm can serve.
        """
        if self._bandit is not None:
            if not self._choices:
                raise self._unavailable()
            return self._bandit_routes[self._bandit.choose(self._choices)]
        if key and self.policy.sticky_key is not None:
            return self._by_hash(sticky_hash(key, self.policy.salt), self._sticky_routes)
        with self._lock:  # random.Random makes no promise of thread safety
            draw = self._rng.getrandbits(64)
        return self._by_hash(draw, self._split_routes)

    def feedback(self, arm: str, reward: float) -> None:
        """Teach the bandit that ``arm`` earned ``reward`` (a number in [0, 1]).

        Refused with ``Conflict`` in split mode (nothing learns there) and
        with ``InvalidInput`` for a shadow, whose output was never returned.
        """
        if self._bandit is None:
            raise Conflict(
                "this deployment routes by a fixed split, so feedback teaches nothing; "
                "set the policy's mode to 'bandit' to learn from rewards",
                field="mode",
            )
        if arm in self.policy.shadows:
            raise InvalidInput(
                f"{arm!r} is a shadow: its outputs are never returned, so it earns no reward",
                field="arm",
            )
        self._bandit.update(arm, reward)

    def state(self) -> dict[str, Any]:
        """JSON-able learning state: the bandit's counts, means and posteriors (see ``Bandit``)."""
        if self._bandit is None:
            return {"mode": "split"}
        return {"mode": "bandit", **self._bandit.state()}

    def _plan(self, available: Iterable[str]) -> None:
        """Precompute every Route this router can return, so ``route`` allocates nothing."""
        policy = self.policy
        self.available: frozenset[str] = frozenset(available) & frozenset(_names(policy))
        shadows = tuple(name for name in policy.shadows if name in self.available)
        names = [arm.name for arm in policy.arms]
        up = [name in self.available for name in names]
        if self._bandit is not None:
            reason = f"bandit:{self._bandit.algorithm}"
            self._choices = tuple(name for name, ok in zip(names, up, strict=True) if ok)
            self._bandit_routes = {name: Route(name, shadows, reason) for name in self._choices}
            return
        shares = [_bps(arm) for arm in policy.arms]
        self._bounds = list(accumulate(shares))
        self._split_routes = _routes(names, up, shadows, "split")
        self._sticky_routes = _routes(names, up, shadows, "sticky")
        spare = [(n, s) for n, s, ok in zip(names, shares, up, strict=True) if ok and s > 0]
        self._fallback_bounds = list(accumulate(share for _, share in spare))
        self._fallback_routes = [Route(name, shadows, "fallback") for name, _ in spare]

    def _by_hash(self, value: int, routes: list[Route | None]) -> Route:
        """The arm whose bucket range holds ``value % 10000``; a fallback if it did not load.

        A fallback uses the hash's remaining digits, ``value // 10000``, over
        the loaded arms' weights, so a failed arm's keys spread in proportion
        and keys of healthy arms stay where they were.
        """
        route = routes[bisect_right(self._bounds, value % BUCKETS)]
        if route is not None:
            return route
        if not self._fallback_routes:
            raise self._unavailable()
        position = (value // BUCKETS) % self._fallback_bounds[-1]
        return self._fallback_routes[bisect_right(self._fallback_bounds, position)]

    def _unavailable(self) -> Unavailable:
        down = [arm.name for arm in self.policy.arms if arm.name not in self.available]
        idle = [arm.name for arm in self.policy.arms if arm.name in self.available]
        hint = f"; {idle} loaded but have weight 0, so give one of them a share" if idle else ""
        return Unavailable(
            f"no arm of this deployment can serve: {down} did not load{hint}", field="arms"
        )


_POLICY_KEYS = frozenset(f.name for f in fields(TrafficPolicy))
_BANDIT_KEYS = tuple(f.name for f in fields(BanditConfig))


def _names(policy: TrafficPolicy) -> list[str]:
    return [arm.name for arm in policy.arms] + list(policy.shadows)


def _routes(
    names: list[str], up: list[bool], shadows: tuple[str, ...], reason: str
) -> list[Route | None]:
    return [
        Route(name, shadows, reason) if ok else None for name, ok in zip(names, up, strict=True)
    ]


def _bps(arm: Arm) -> int:
    """The arm's weight in hundredths of a percent (buckets), exact by construction."""
    return round(cast(float, arm.weight) * 100)


def _new_bandit(policy: TrafficPolicy, seed: int | None) -> Bandit | None:
    if policy.bandit is None:
        return None
    cls = BANDITS[policy.bandit.algorithm]
    return cls([arm.name for arm in policy.arms], seed=seed, **policy.bandit.params())


def _check_names(arms: tuple[Arm, ...], shadows: tuple[str, ...]) -> None:
    """Arms and shadows are non-empty, trimmed, distinct strings; at least one arm."""
    if not arms:
        raise InvalidInput("a policy needs at least one arm", field="arms")
    seen: set[str] = set()
    entries = [(f"arms[{i}].name", arm.name) for i, arm in enumerate(arms)]
    entries += [(f"shadows[{i}]", name) for i, name in enumerate(shadows)]
    for where, name in entries:
        if not isinstance(name, str) or not name or name != name.strip():
            raise InvalidInput(
                f"an arm name must be a model reference such as 'fraud@champion', got {name!r}",
                field=where,
            )
        if name in seen:
            raise InvalidInput(
                f"{name!r} appears twice; an arm is either served or shadowed, once", field=where
            )
        seen.add(name)


def _check_mode(policy: TrafficPolicy) -> None:
    """The mode is known and the options that go with it (and only those) are set."""
    if policy.mode not in MODES:
        raise InvalidInput(f"mode must be 'split' or 'bandit', got {policy.mode!r}", field="mode")
    if not isinstance(policy.salt, str):
        raise InvalidInput(f"salt must be a string, got {policy.salt!r}", field="salt")
    if policy.sticky_key is not None and (
        not isinstance(policy.sticky_key, str) or not policy.sticky_key
    ):
        raise InvalidInput(
            f"sticky_key must name a request field, got {policy.sticky_key!r}", field="sticky_key"
        )
    if policy.mode == "split" and policy.bandit is not None:
        raise InvalidInput("a bandit config needs mode 'bandit'", field="bandit")
    if policy.mode == "bandit":
        if not isinstance(policy.bandit, BanditConfig):
            raise InvalidInput(
                "mode 'bandit' needs a bandit config, e.g. {'algorithm': 'thompson'}",
                field="bandit",
            )
        if policy.sticky_key is not None:
            raise InvalidInput(
                "a bandit's choice changes as it learns, so it cannot be sticky; "
                "drop sticky_key or use mode 'split'",
                field="sticky_key",
            )
        for i, arm in enumerate(policy.arms):
            if arm.weight is not None:
                raise InvalidInput(
                    "weights have no meaning in bandit mode (the bandit sets the shares); "
                    "remove them",
                    field=f"arms[{i}].weight",
                )


def _check_weights(arms: tuple[Arm, ...]) -> None:
    """Each weight is 0..100 with at most two decimals, and together they make 100."""
    for i, arm in enumerate(arms):
        weight = arm.weight
        if not is_number(weight) or not 0.0 <= weight <= 100.0:
            raise InvalidInput(
                f"arm {arm.name!r} needs a weight between 0 and 100 (percent), got {weight!r}",
                field=f"arms[{i}].weight",
            )
        if abs(weight * 100 - round(weight * 100)) > 1e-6:
            raise InvalidInput(
                f"arm {arm.name!r} has weight {weight!r}; weights have at most two decimals",
                field=f"arms[{i}].weight",
            )
    total = sum(_bps(arm) for arm in arms)
    if total != BUCKETS:
        raise InvalidInput(
            f"weights must sum to 100, got {total / 100:g} "
            f"({', '.join(f'{arm.name}={arm.weight}' for arm in arms)})",
            field="arms",
        )


def _arm_from(entry: Any, i: int) -> Arm:
    if isinstance(entry, str):
        return Arm(entry)
    if not isinstance(entry, Mapping) or "name" not in entry:
        raise InvalidInput(
            f"an arm is an object with a name (and a weight in split mode), got {entry!r}",
            field=f"arms[{i}]",
        )
    _refuse_unknown(entry, frozenset({"name", "weight"}), f"arms[{i}].")
    return Arm(entry["name"], entry.get("weight"))


def _bandit_dict(config: BanditConfig) -> dict[str, Any]:
    """The config's fields that are set (unset parameters take their defaults)."""
    return {
        name: getattr(config, name)
        for name in _BANDIT_KEYS
        if name == "algorithm" or getattr(config, name) is not None
    }


def _refuse_unknown(data: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
    for key in data:
        if key not in known:
            raise InvalidInput(
                f"unknown key {key!r}; expected some of {sorted(known)}", field=f"{prefix}{key}"
            )
