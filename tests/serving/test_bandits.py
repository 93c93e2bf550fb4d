"""The bandits on a simulated Bernoulli world: they learn, repeat, save, and count exactly."""

from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter

import pytest

from kiln.errors import InvalidInput, Unavailable
from kiln.serving._bandits import BANDITS, UCB1, Bandit, EpsilonGreedy, ThompsonBernoulli

ARMS = ("low", "middle", "high")
P = {"low": 0.2, "middle": 0.5, "high": 0.8}


def make(algorithm: str, seed: int = 1) -> Bandit:
    return BANDITS[algorithm](ARMS, seed=seed)


def play(bandit: Bandit, rounds: int, world: random.Random) -> list[str]:
    """Choose, then reward 1 with the arm's probability, ``rounds`` times."""
    chosen = []
    for _ in range(rounds):
        arm = bandit.choose()
        bandit.update(arm, float(world.random() < P[arm]))
        chosen.append(arm)
    return chosen


@pytest.mark.parametrize("algorithm", sorted(BANDITS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_bandit_learns_the_best_arm(algorithm: str, seed: int) -> None:
    chosen = play(make(algorithm, seed), 5_000, random.Random(seed))
    late = Counter(chosen[-1_000:])
    assert late["high"] / 1_000 > 0.85


def test_ucb1_plays_every_arm_once_first_in_arm_order() -> None:
    assert play(UCB1(ARMS), 3, random.Random(0)) == list(ARMS)


def test_ucb1_picks_the_highest_bound() -> None:
    bandit = UCB1(ARMS)
    for arm, rewards in (("low", [1, 1]), ("middle", [1, 0, 1, 0, 1, 0, 1, 0]), ("high", [0])):
        for reward in rewards:
            bandit.update(arm, reward)
    bounds = {arm: entry["ucb"] for arm, entry in bandit.state()["arms"].items()}
    total = 11
    assert bounds["low"] == pytest.approx(1.0 + math.sqrt(2 * math.log(total) / 2))
    assert bounds["middle"] == pytest.approx(0.5 + math.sqrt(2 * math.log(total) / 8))
    assert bounds["high"] == pytest.approx(0.0 + math.sqrt(2 * math.log(total) / 1))
    assert bandit.choose() == max(bounds, key=bounds.__getitem__)


@pytest.mark.parametrize("cls", [UCB1, EpsilonGreedy])
def test_pulls_awaiting_feedback_spread_over_untried_arms(cls: type[Bandit]) -> None:
    bandit = cls(ARMS, seed=0) if cls is UCB1 else EpsilonGreedy(ARMS, epsilon=0.0)
    assert [bandit.choose() for _ in range(6)] == [*ARMS, *ARMS]


def test_epsilon_greedy_without_exploration_takes_the_best_mean_ties_to_the_first() -> None:
    bandit = EpsilonGreedy(ARMS, epsilon=0.0)
    for arm in ARMS:
        bandit.update(arm, 0.5)
    assert {bandit.choose() for _ in range(20)} == {"low"}
    bandit.update("high", 1.0)
    assert bandit.choose() == "high"


def test_epsilon_greedy_with_full_exploration_is_uniform() -> None:
    bandit = EpsilonGreedy(ARMS, epsilon=1.0, seed=4)
    bandit.update("high", 1.0)
    counts = Counter(bandit.choose() for _ in range(30_000))
    for arm in ARMS:
        assert counts[arm] / 30_000 == pytest.approx(1 / 3, abs=0.015)


def test_thompson_posterior_counts_fractional_rewards() -> None:
    bandit = ThompsonBernoulli(ARMS, alpha=2.0, beta=3.0)
    for reward in (1, 0, 0.25):
        bandit.update("middle", reward)
    entry = bandit.state()["arms"]["middle"]
    assert (entry["alpha"], entry["beta"]) == (2.0 + 1.25, 3.0 + 1.75)
    assert entry["mean"] == pytest.approx(1.25 / 3)
    assert bandit.state()["arms"]["low"] | {"pulls": 0} == {
        "pulls": 0,
        "rewards": 0,
        "reward_sum": 0.0,
        "mean": None,
        "alpha": 2.0,
        "beta": 3.0,
    }


@pytest.mark.parametrize("algorithm", sorted(BANDITS))
def test_a_seed_repeats_the_run(algorithm: str) -> None:
    first = play(make(algorithm, seed=9), 1_000, random.Random(5))
    second = play(make(algorithm, seed=9), 1_000, random.Random(5))
    assert first == second


@pytest.mark.parametrize("algorithm", sorted(BANDITS))
def test_from_state_continues_identically(algorithm: str) -> None:
    original = make(algorithm, seed=3)
    play(original, 400, random.Random(8))
    restored = type(original).from_state(json.loads(json.dumps(original.state())))
    assert restored.state() == original.state()
    assert play(restored, 400, random.Random(2)) == play(original, 400, random.Random(2))


def test_from_state_can_change_arms_and_algorithm() -> None:
    greedy = EpsilonGreedy(ARMS, epsilon=0.2, seed=1)
    play(greedy, 200, random.Random(1))
    thompson = ThompsonBernoulli.from_state(
        greedy.state(), arms=["high", "new"], params={"alpha": 1.0, "beta": 1.0}
    )
    arms = thompson.state()["arms"]
    assert set(arms) == {"high", "new"}
    for key in ("pulls", "rewards", "reward_sum"):
        assert arms["high"][key] == greedy.state()["arms"]["high"][key]
    assert arms["new"]["rewards"] == 0
    with pytest.raises(InvalidInput) as caught:
        UCB1.from_state(greedy.state())
    assert caught.value.field == "state.algorithm"


@pytest.mark.parametrize(
    ("state", "field"),
    [
        ({"algorithm": "ucb1"}, "state.arms"),
        ({"algorithm": "ucb1", "arms": {"a": {"pulls": 1}}}, "state.arms.a"),
        (
            {"algorithm": "ucb1", "arms": {"a": {"pulls": -1, "rewards": 0, "reward_sum": 0}}},
            "state.arms.a",
        ),
        (
            {"algorithm": "ucb1", "arms": {"a": {"pulls": 1, "rewards": 1, "reward_sum": 2}}},
            "state.arms.a",
        ),
        (
            {
                "algorithm": "ucb1",
                "params": {"epsilon": 0.1},
                "arms": {"a": {"pulls": 0, "rewards": 0, "reward_sum": 0}},
            },
            "state.params",
        ),
        (
            {
                "algorithm": "ucb1",
                "rng": [3, "x"],
                "arms": {"a": {"pulls": 0, "rewards": 0, "reward_sum": 0}},
            },
            "state.rng",
        ),
    ],
)
def test_a_malformed_state_is_refused(state: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        UCB1.from_state(state)
    assert caught.value.field == field


@pytest.mark.parametrize("reward", [-0.1, 1.1, float("nan"), float("inf"), "1", None])
def test_rewards_outside_zero_one_are_refused(reward: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        UCB1(ARMS).update("low", reward)  # type: ignore[arg-type]
    assert caught.value.field == "reward"


def test_boolean_rewards_are_successes_and_failures() -> None:
    bandit = ThompsonBernoulli(ARMS)
    bandit.update("low", True)
    bandit.update("low", False)
    assert bandit.state()["arms"]["low"]["reward_sum"] == 1.0


def test_choose_keeps_to_the_available_arms() -> None:
    bandit = ThompsonBernoulli(ARMS, seed=2)
    assert {bandit.choose(["low", "middle"]) for _ in range(200)} == {"low", "middle"}
    with pytest.raises(Unavailable):
        bandit.choose([])
    with pytest.raises(InvalidInput) as caught:
        bandit.choose(["low", "elsewhere"])
    assert caught.value.field == "available"
    with pytest.raises(InvalidInput) as caught:
        bandit.update("elsewhere", 1.0)
    assert caught.value.field == "arm"


def test_bad_parameters_and_arms_are_refused() -> None:
    for build, field in (
        (lambda: EpsilonGreedy(ARMS, epsilon=-0.1), "epsilon"),
        (lambda: ThompsonBernoulli(ARMS, alpha=0.0), "alpha"),
        (lambda: ThompsonBernoulli(ARMS, beta=float("nan")), "beta"),
        (lambda: UCB1([]), "arms"),
        (lambda: UCB1(["a", "a"]), "arms"),
    ):
        with pytest.raises(InvalidInput) as caught:
            build()
        assert caught.value.field == field


@pytest.mark.parametrize("algorithm", sorted(BANDITS))
def test_concurrent_choices_and_updates_count_exactly(algorithm: str) -> None:
    bandit = make(algorithm)
    successes = [0] * 8

    def work(index: int) -> None:
        world = random.Random(index)
        for _ in range(2_000):
            arm = bandit.choose()
            reward = world.random() < P[arm]
            successes[index] += reward
            bandit.update(arm, reward)
            if world.random() < 0.01:
                bandit.state()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    arms = bandit.state()["arms"].values()
    assert sum(arm["pulls"] for arm in arms) == 16_000
    assert sum(arm["rewards"] for arm in arms) == 16_000
    assert sum(arm["reward_sum"] for arm in arms) == sum(successes)
