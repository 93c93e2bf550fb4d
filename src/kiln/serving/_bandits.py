"""Multi-armed bandits that learn which arm of a deployment earns the most reward.

Three algorithms share one small interface::

    Bandit                  choose(available) -> arm, update(arm, reward), state(), from_state()
    ├── EpsilonGreedy       explore uniformly with probability epsilon, else the best mean
    ├── UCB1                the best mean + sqrt(2 ln N / n)
    └── ThompsonBernoulli   the best draw from Beta(alpha + successes, beta + failures)

Every bandit keeps the same per-arm statistics — ``pulls`` (times chosen),
``rewards`` (rewards received) and ``reward_sum`` — so a saved state can be
loaded by another algorithm when a deployment switches. Rewards are numbers
in [0, 1]. The server chooses on one thread and receives feedback on
another, often much later (or never), which is why pulls and rewards are
counted apart. A lock guards every method, and a seeded ``random.Random``
makes a run of choices and updates repeat exactly.
"""

from __future__ import annotations

import math
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self, TypeGuard

from kiln.errors import InvalidInput, Unavailable

__all__ = [
    "BANDITS",
    "UCB1",
    "Bandit",
    "EpsilonGreedy",
    "ThompsonBernoulli",
    "check_reward",
    "is_number",
]


def is_number(value: object) -> TypeGuard[int | float]:
    """A real int or float (not a bool, which is an int to Python but a mistake here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_reward(reward: object) -> float:
    """``reward`` as a float, refusing anything outside [0, 1].

    One range for every algorithm: UCB1's bound and the Beta-Bernoulli
    posterior both assume it, and it lets a learned state move between
    algorithms. Scale a business reward into [0, 1] before sending it.
    """
    if isinstance(reward, bool):
        return float(reward)  # a success flag is the natural Bernoulli reward
    if not is_number(reward) or not 0.0 <= reward <= 1.0:
        raise InvalidInput(
            f"reward must be a number in [0, 1], got {reward!r}; scale it into that range",
            field="reward",
        )
    return float(reward)


class Bandit(ABC):
    """The shared statistics, lock and random source; subclasses only pick an arm."""

    algorithm: ClassVar[str]

    def __init__(self, arms: Sequence[str], *, seed: int | None = None) -> None:
        if not arms or len(set(arms)) != len(arms):
            raise InvalidInput(f"a bandit needs distinct arms, got {list(arms)!r}", field="arms")
        self.arms: tuple[str, ...] = tuple(arms)
        self._index = {arm: i for i, arm in enumerate(self.arms)}
        self._pulls = [0] * len(self.arms)
        self._rewards = [0] * len(self.arms)
        self._sums = [0.0] * len(self.arms)
        self._total_rewards = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    @abstractmethod
    def _pick(self, indices: Sequence[int]) -> int:
        """The chosen index among ``indices`` (non-empty; ties to the earliest); under the lock."""

    @abstractmethod
    def params(self) -> dict[str, float]:
        """The algorithm's parameters, as ``from_state`` takes them back."""

    def choose(self, available: Sequence[str] | None = None) -> str:
        """The arm to serve next, among ``available`` (all arms when None); counts a pull.

        Ties go to the arm that comes first in ``available``.
        """
        names = self.arms if available is None else available
        if not names:
            raise Unavailable(f"no arm is available to choose from; load one of {list(self.arms)}")
        try:
            indices = [self._index[name] for name in names]
        except KeyError as exc:
            raise InvalidInput(
                f"{exc.args[0]!r} is not an arm of this bandit ({', '.join(self.arms)})",
                field="available",
            ) from None
        with self._lock:
            chosen = self._pick(indices)
            self._pulls[chosen] += 1
        return self.arms[chosen]

    def update(self, arm: str, reward: float) -> None:
        """Record a reward in [0, 1] earned by ``arm`` (see ``check_reward``)."""
        value = check_reward(reward)
        index = self._arm_index(arm)
        with self._lock:
            self._rewards[index] += 1
            self._sums[index] += value
            self._total_rewards += 1

    def state(self) -> dict[str, Any]:
        """The learned statistics as plain JSON: per-arm counts and means, params, random state.

        ``rng`` is opaque (the Mersenne Twister state); it lets ``from_state``
        continue the very same random sequence. Drop it to start afresh.
        """
        with self._lock:
            arms = {arm: self._arm_state(i) for i, arm in enumerate(self.arms)}
            version, internal, gauss_next = self._rng.getstate()
        return {
            "algorithm": self.algorithm,
            "params": self.params(),
            "arms": arms,
            "rng": [version, list(internal), gauss_next],
        }

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        *,
        arms: Sequence[str] | None = None,
        params: Mapping[str, float] | None = None,
        seed: int | None = None,
    ) -> Self:
        """A bandit that continues from ``state``.

        ``arms`` (default: the state's) may add arms, which start fresh, or
        leave some out, whose statistics are dropped. ``params`` replace the
        stored ones (a policy's new epsilon); without them the state must be
        of this algorithm. ``seed`` is used only when the state has no ``rng``.
        """
        stored = _arm_stats(state)
        if params is None:
            if state.get("algorithm") != cls.algorithm:
                raise InvalidInput(
                    f"the state is of {state.get('algorithm')!r}, not {cls.algorithm!r}; "
                    "pass this algorithm's params to convert it",
                    field="state.algorithm",
                )
            params = state.get("params") or {}
        try:
            bandit = cls(list(stored) if arms is None else arms, seed=seed, **params)
        except TypeError:
            raise InvalidInput(
                f"{cls.algorithm} does not take the params {dict(params)!r}", field="state.params"
            ) from None
        for arm, (pulls, rewards, total) in stored.items():
            if arm in bandit._index:
                i = bandit._index[arm]
                bandit._pulls[i], bandit._rewards[i], bandit._sums[i] = pulls, rewards, total
        bandit._total_rewards = sum(bandit._rewards)
        if state.get("rng") is not None:
            _restore_rng(bandit._rng, state["rng"])
        return bandit

    def _arm_index(self, arm: str) -> int:
        try:
            return self._index[arm]
        except KeyError:
            raise InvalidInput(
                f"{arm!r} is not an arm of this bandit ({', '.join(self.arms)})", field="arm"
            ) from None

    def _mean(self, i: int) -> float | None:
        return self._sums[i] / self._rewards[i] if self._rewards[i] else None

    def _arm_state(self, i: int) -> dict[str, Any]:
        """One arm's statistics; subclasses add what their choice is made from."""
        return {
            "pulls": self._pulls[i],
            "rewards": self._rewards[i],
            "reward_sum": self._sums[i],
            "mean": self._mean(i),
        }

    def _untried(self, indices: Sequence[int]) -> int | None:
        """The arm with no reward yet and the fewest pulls, if any.

        Such an arm has no mean to compare, so it is tried first. Counting
        pulls spreads the requests made while its first reward is still on
        the way across all untried arms instead of piling onto one.
        """
        best: int | None = None
        for i in indices:
            if self._rewards[i] == 0 and (best is None or self._pulls[i] < self._pulls[best]):
                best = i
        return best


class EpsilonGreedy(Bandit):
    """With probability ``epsilon`` a uniformly random arm, else the one with the best mean."""

    algorithm = "epsilon_greedy"

    def __init__(
        self, arms: Sequence[str], *, epsilon: float = 0.1, seed: int | None = None
    ) -> None:
        if not is_number(epsilon) or not 0.0 <= epsilon <= 1.0:
            raise InvalidInput(f"epsilon must be in [0, 1], got {epsilon!r}", field="epsilon")
        super().__init__(arms, seed=seed)
        self.epsilon = float(epsilon)

    def params(self) -> dict[str, float]:
        return {"epsilon": self.epsilon}

    def _pick(self, indices: Sequence[int]) -> int:
        # One draw per choice whichever way it goes, so a seeded run repeats.
        if self._rng.random() < self.epsilon:
            return indices[self._rng.randrange(len(indices))]
        untried = self._untried(indices)
        if untried is not None:
            return untried
        return max(indices, key=lambda i: self._sums[i] / self._rewards[i])


class UCB1(Bandit):
    """Each arm once, then the best ``mean + sqrt(2 ln N / n)`` (Auer et al., 2002).

    ``n`` is the arm's rewards received and ``N`` those of all arms. It uses
    no randomness; ``seed`` is accepted so every bandit is built alike.
    """

    algorithm = "ucb1"

    def params(self) -> dict[str, float]:
        return {}

    def _pick(self, indices: Sequence[int]) -> int:
        untried = self._untried(indices)
        if untried is not None:
            return untried
        return max(indices, key=self._index_of)

    def _index_of(self, i: int) -> float:
        bonus = math.sqrt(2.0 * math.log(self._total_rewards) / self._rewards[i])
        return self._sums[i] / self._rewards[i] + bonus

    def _arm_state(self, i: int) -> dict[str, Any]:
        arm = super()._arm_state(i)
        arm["ucb"] = self._index_of(i) if self._rewards[i] else None
        return arm


class ThompsonBernoulli(Bandit):
    """The best draw from each arm's posterior Beta(alpha + successes, beta + failures).

    A reward r counts as r successes and 1 - r failures: exact Beta-Bernoulli
    for 0/1 rewards, and for fractional ones the posterior mean follows the
    mean reward (the "fractional pseudo-count" update).
    """

    algorithm = "thompson"

    def __init__(
        self,
        arms: Sequence[str],
        *,
        alpha: float = 1.0,
        beta: float = 1.0,
        seed: int | None = None,
    ) -> None:
        for name, value in (("alpha", alpha), ("beta", beta)):
            if not is_number(value) or not 0.0 < value < math.inf:
                raise InvalidInput(f"{name} must be a positive number, got {value!r}", field=name)
        super().__init__(arms, seed=seed)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def params(self) -> dict[str, float]:
        return {"alpha": self.alpha, "beta": self.beta}

    def _posterior(self, i: int) -> tuple[float, float]:
        successes = self._sums[i]
        return self.alpha + successes, self.beta + (self._rewards[i] - successes)

    def _pick(self, indices: Sequence[int]) -> int:
        draw = self._rng.betavariate
        return max(indices, key=lambda i: draw(*self._posterior(i)))

    def _arm_state(self, i: int) -> dict[str, Any]:
        arm = super()._arm_state(i)
        arm["alpha"], arm["beta"] = self._posterior(i)
        return arm


#: Algorithm name (as a policy spells it) → class.
BANDITS: dict[str, type[Bandit]] = {
    cls.algorithm: cls for cls in (EpsilonGreedy, UCB1, ThompsonBernoulli)
}


def _arm_stats(state: Mapping[str, Any]) -> dict[str, tuple[int, int, float]]:
    """``state["arms"]`` as arm → (pulls, rewards, reward_sum), refusing a malformed one."""
    arms = state.get("arms")
    if not isinstance(arms, Mapping):
        raise InvalidInput("a bandit state needs an 'arms' object", field="state.arms")
    stats: dict[str, tuple[int, int, float]] = {}
    for arm, entry in arms.items():
        try:
            pulls, rewards, total = entry["pulls"], entry["rewards"], float(entry["reward_sum"])
        except (TypeError, KeyError, ValueError):
            raise InvalidInput(
                f"arm {arm!r} needs pulls, rewards and reward_sum", field=f"state.arms.{arm}"
            ) from None
        if not all(isinstance(n, int) and n >= 0 for n in (pulls, rewards)) or not (
            0.0 <= total <= rewards
        ):
            raise InvalidInput(
                f"arm {arm!r} has impossible counts {entry!r}", field=f"state.arms.{arm}"
            )
        stats[str(arm)] = (pulls, rewards, total)
    return stats


def _restore_rng(rng: random.Random, value: Any) -> None:
    """Set ``rng`` from the JSON form of ``random.Random.getstate()``."""
    try:
        version, internal, gauss_next = value
        rng.setstate((version, tuple(internal), gauss_next))
    except (TypeError, ValueError):
        raise InvalidInput("the state's rng is malformed; drop it", field="state.rng") from None
