"""Traffic policies and the router: validation, splits, sticky buckets, shadows, failed arms."""

from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kiln.errors import Conflict, InvalidInput, KilnError, Unavailable
from kiln.serving._hashing import bucket, sticky_hash
from kiln.serving._routing import Arm, BanditConfig, Route, Router, TrafficPolicy

DOC = Path(__file__).parents[2] / "docs" / "serving-traffic.md"
CHAMPION, CANARY, CHALLENGER = "fraud@champion", "fraud/7", "fraud/8"

#: (key, salt, first 8 bytes of the hash, bucket, arm under 50/30/20, arm with fraud/7 down).
VECTORS = [
    ("alice", "fraud-2026", "e93ce5bc9ef96555", 5333, CANARY, CHALLENGER),
    ("bob", "fraud-2026", "5675d617e5a3a33d", 7741, CANARY, CHAMPION),
    ("carol", "fraud-2026", "9a79b8e15d8fa8e0", 9872, CHALLENGER, CHALLENGER),
    ("dave", "fraud-2026", "b0566889411842fd", 461, CHAMPION, CHAMPION),
    ("user-42", "fraud-2026", "74caf371b32853d4", 1668, CHAMPION, CHAMPION),
    ("zoë", "fraud-2026", "b89c17d85cb21ac0", 3472, CHAMPION, CHAMPION),
    ("12345", "fraud-2026", "237f78ac47f68178", 6440, CANARY, CHALLENGER),
    ("alice", "", "3b8d32346718b5af", 1535, CHAMPION, CHAMPION),
    ("erin", "", "32d0b4f1b77b1136", 7126, CANARY, CHAMPION),
]


def split(*weights: float, **options: Any) -> TrafficPolicy:
    names = [CHAMPION, CANARY, CHALLENGER][: len(weights)]
    return TrafficPolicy(
        arms=tuple(Arm(n, w) for n, w in zip(names, weights, strict=True)), **options
    )


def bandit(algorithm: str = "ucb1", **options: Any) -> TrafficPolicy:
    return TrafficPolicy(
        arms=(Arm(CHAMPION), Arm(CANARY), Arm(CHALLENGER)),
        mode="bandit",
        bandit=BanditConfig(algorithm, seed=7),
        **options,
    )


def shares(routes: list[Route]) -> dict[str, float]:
    counts = Counter(route.arm for route in routes)
    return {arm: count / len(routes) for arm, count in counts.items()}


# -- the policy ------------------------------------------------------------------------------

VALID = {"arms": [{"name": CHAMPION, "weight": 90}, {"name": CANARY, "weight": 10}]}
BANDIT = {"mode": "bandit", "arms": [CHAMPION, CANARY], "bandit": {"algorithm": "ucb1"}}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"arms": []}, "arms"),
        ({"arms": "fraud@champion"}, "arms"),
        ({"arms": [{"name": CHAMPION, "weight": 90}, {"name": CANARY, "weight": 9}]}, "arms"),
        (
            {"arms": [{"name": CHAMPION, "weight": 101}, {"name": CANARY, "weight": -1}]},
            "arms[0].weight",
        ),
        (
            {"arms": [{"name": CHAMPION, "weight": 90}, {"name": CANARY, "weight": -1}]},
            "arms[1].weight",
        ),
        (
            {"arms": [{"name": CHAMPION, "weight": 66.667}, {"name": CANARY, "weight": 33.333}]},
            "arms[0].weight",
        ),
        (
            {"arms": [{"name": CHAMPION, "weight": "90"}, {"name": CANARY, "weight": 10}]},
            "arms[0].weight",
        ),
        ({"arms": [{"name": CHAMPION, "weight": 100}, {"name": CANARY}]}, "arms[1].weight"),
        (
            {"arms": [{"name": CHAMPION, "weight": 100}, {"name": CHAMPION, "weight": 0}]},
            "arms[1].name",
        ),
        ({"arms": [{"name": "", "weight": 100}]}, "arms[0].name"),
        ({"arms": [{"name": " fraud/3", "weight": 100}]}, "arms[0].name"),
        ({"arms": [{"name": CHAMPION, "weight": 100, "colour": "red"}]}, "arms[0].colour"),
        ({"arms": [42]}, "arms[0]"),
        ({"shadows": [CANARY]}, "shadows[0]"),
        ({"shadows": "fraud/8"}, "shadows"),
        ({"colour": "red"}, "colour"),
        ({"mode": "canary"}, "mode"),
        ({"sticky_key": ""}, "sticky_key"),
        ({"salt": 5}, "salt"),
        ({"bandit": {"algorithm": "ucb1"}}, "bandit"),
    ],
)
def test_invalid_split_policies_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        TrafficPolicy.from_dict({**VALID, **change})
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bandit": None}, "bandit"),
        ({"arms": [{"name": CHAMPION, "weight": 50}, CANARY]}, "arms[0].weight"),
        ({"sticky_key": "user_id"}, "sticky_key"),
        ({"bandit": {"algorithm": "softmax"}}, "bandit.algorithm"),
        ({"bandit": {"epsilon": 0.1}}, "bandit.algorithm"),
        ({"bandit": {"algorithm": "ucb1", "epsilon": 0.1}}, "bandit.epsilon"),
        ({"bandit": {"algorithm": "epsilon_greedy", "epsilon": 1.5}}, "bandit.epsilon"),
        ({"bandit": {"algorithm": "epsilon_greedy", "epsilon": True}}, "bandit.epsilon"),
        ({"bandit": {"algorithm": "thompson", "alpha": 0}}, "bandit.alpha"),
        ({"bandit": {"algorithm": "thompson", "beta": float("inf")}}, "bandit.beta"),
        ({"bandit": {"algorithm": "thompson", "alpha": 1, "epsilon": 0.2}}, "bandit.epsilon"),
        ({"bandit": {"algorithm": "ucb1", "seed": "7"}}, "bandit.seed"),
        ({"bandit": {"algorithm": "ucb1", "temperature": 1}}, "bandit.temperature"),
        ({"bandit": "ucb1"}, "bandit"),
    ],
)
def test_invalid_bandit_policies_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        TrafficPolicy.from_dict({**BANDIT, **change})
    assert caught.value.field == field


def test_policy_round_trips_through_json() -> None:
    policies = [
        split(33.33, 33.33, 33.34, sticky_key="user_id", salt="exp-1"),
        TrafficPolicy.from_dict({**VALID, "shadows": [CHALLENGER]}),
        TrafficPolicy.from_dict(
            {**BANDIT, "bandit": {"algorithm": "thompson", "alpha": 2, "seed": 3}}
        ),
        bandit("epsilon_greedy"),
    ]
    for policy in policies:
        stored = json.loads(json.dumps(policy.to_dict()))
        assert TrafficPolicy.from_dict(stored) == policy
        assert hash(TrafficPolicy.from_dict(stored)) == hash(policy)


def test_lists_are_stored_as_tuples_and_defaults_are_filled() -> None:
    policy = TrafficPolicy(arms=[Arm(CHAMPION, 100)], shadows=[CANARY])  # type: ignore[arg-type]
    assert policy.arms == (Arm(CHAMPION, 100),)
    assert policy.shadows == (CANARY,)
    assert BanditConfig("epsilon_greedy").params() == {"epsilon": 0.1}
    assert BanditConfig("thompson", beta=3).params() == {"alpha": 1.0, "beta": 3}
    assert BanditConfig("ucb1").params() == {}
    assert bandit("ucb1").to_dict()["bandit"] == {"algorithm": "ucb1", "seed": 7}


# -- split routing ---------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [(90, 10), (50, 30, 20), (99.5, 0.5), (100,)])
def test_random_split_follows_the_weights(weights: tuple[float, ...]) -> None:
    router = Router(split(*weights), seed=11)
    routes = [router.route() for _ in range(100_000)]
    observed = shares(routes)
    for arm in router.policy.arms:
        assert observed.get(arm.name, 0.0) == pytest.approx(arm.weight / 100, abs=0.005)
    assert {route.reason for route in routes} == {"split"}


def test_a_zero_weight_arm_gets_nothing() -> None:
    router = Router(split(80, 0, 20), seed=1)
    assert CANARY not in {router.route().arm for _ in range(20_000)}
    assert CANARY not in {router.route(f"user-{i}").arm for i in range(20_000)}


def test_seeded_routers_repeat_and_unseeded_ones_differ() -> None:
    policy = split(50, 30, 20)
    first, second = Router(policy, seed=5), Router(policy, seed=5)
    assert [first.route().arm for _ in range(500)] == [second.route().arm for _ in range(500)]
    third, fourth = Router(policy), Router(policy)
    assert [third.route().arm for _ in range(500)] != [fourth.route().arm for _ in range(500)]


# -- sticky assignment -----------------------------------------------------------------------


@pytest.mark.parametrize(("key", "salt", "prefix", "expected", "arm", "fallback"), VECTORS)
def test_sticky_test_vectors(
    key: str, salt: str, prefix: str, expected: int, arm: str, fallback: str
) -> None:
    assert f"{sticky_hash(key, salt):016x}" == prefix
    assert bucket(key, salt) == expected
    policy = split(50, 30, 20, sticky_key="user_id", salt=salt)
    assert Router(policy).route(key) == Route(arm, (), "sticky")
    degraded = Router(policy).without([CANARY]).route(key)
    assert degraded.arm == fallback
    assert degraded.reason == ("fallback" if arm == CANARY else "sticky")


def test_the_documented_vectors_are_the_tested_ones() -> None:
    section = DOC.read_text().split("### Test vectors", 1)[1].split("\n## ", 1)[0]
    rows = [
        [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if re.match(r"\|\s*`", line)
    ]
    documented = [(k, "" if s == "(empty)" else s, h, int(b), a, f) for k, s, h, b, a, f in rows]
    assert documented == VECTORS


def test_sticky_keys_always_get_the_same_arm() -> None:
    policy = split(50, 30, 20, sticky_key="user_id", salt="exp")
    first, second = Router(policy, seed=1), Router(policy, seed=2)
    for i in range(2_000):
        key = f"user-{i}"
        assert first.route(key) == first.route(key) == second.route(key)


def test_sticky_assignment_follows_the_weights() -> None:
    router = Router(split(50, 30, 20, sticky_key="user_id", salt="exp"))
    routes = [router.route(f"user-{i}") for i in range(100_000)]
    assert shares(routes) == pytest.approx({CHAMPION: 0.5, CANARY: 0.3, CHALLENGER: 0.2}, abs=0.006)
    assert {route.reason for route in routes} == {"sticky"}


def test_a_key_is_sticky_only_when_the_policy_names_a_sticky_key() -> None:
    unsticky = Router(split(50, 50), seed=3)
    assert len({unsticky.route("alice").arm for _ in range(200)}) == 2
    sticky = Router(split(50, 50, sticky_key="user_id"), seed=3)
    assert {sticky.route("").reason for _ in range(50)} == {"split"}
    assert {sticky.route(None).reason for _ in range(50)} == {"split"}


def test_the_salt_reshuffles_assignments() -> None:
    one = Router(split(50, 50, sticky_key="user_id", salt="exp-1"))
    two = Router(split(50, 50, sticky_key="user_id", salt="exp-2"))
    keys = [f"user-{i}" for i in range(10_000)]
    same = sum(one.route(key).arm == two.route(key).arm for key in keys)
    assert same / len(keys) == pytest.approx(0.5, abs=0.03)


def test_growing_the_last_arm_moves_only_the_keys_it_gains() -> None:
    before = Router(split(90, 10, sticky_key="user_id", salt="ramp"))
    after = Router(split(80, 20, sticky_key="user_id", salt="ramp"))
    keys = [f"user-{i}" for i in range(50_000)]
    moves = Counter((before.route(k).arm, after.route(k).arm) for k in keys)
    assert (CANARY, CHAMPION) not in moves
    assert moves[(CHAMPION, CANARY)] / len(keys) == pytest.approx(0.10, abs=0.006)


# -- shadows ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["split", "sticky", "bandit"])
def test_shadows_always_get_a_copy_and_are_never_the_arm(mode: str) -> None:
    shadows = ("fraud/9", "fraud/10")
    if mode == "bandit":
        router = Router(bandit(shadows=shadows))
    else:
        router = Router(split(50, 30, 20, shadows=shadows, sticky_key="user_id"), seed=4)
    for i in range(3_000):
        route = router.route(f"user-{i}" if mode == "sticky" else None)
        assert route.shadows == shadows
        assert route.arm not in shadows
        if mode == "bandit":
            router.feedback(route.arm, i % 2)


def test_a_shadow_that_did_not_load_gets_no_copy() -> None:
    policy = split(100, shadows=("fraud/9", "fraud/10"))
    assert Router(policy, available=[CHAMPION, "fraud/10"]).route().shadows == ("fraud/10",)
    assert Router(policy).without(["fraud/9", "fraud/10"]).route().shadows == ()


# -- arms that failed to load ----------------------------------------------------------------


def test_a_failed_arm_is_never_chosen_and_its_share_is_spread_in_proportion() -> None:
    router = Router(split(50, 30, 20), seed=8).without([CANARY])
    routes = [router.route() for _ in range(100_000)]
    assert shares(routes) == pytest.approx({CHAMPION: 5 / 7, CHALLENGER: 2 / 7}, abs=0.005)
    reasons = Counter(route.reason for route in routes)
    assert reasons["fallback"] / len(routes) == pytest.approx(0.3, abs=0.005)


def test_a_failed_arms_sticky_keys_spread_in_proportion_and_the_others_stay() -> None:
    policy = split(50, 30, 20, sticky_key="user_id", salt="exp")
    healthy, degraded = Router(policy), Router(policy, available=[CHAMPION, CHALLENGER])
    keys = [f"user-{i}" for i in range(100_000)]
    moved: Counter[str] = Counter()
    for key in keys:
        was, now = healthy.route(key), degraded.route(key)
        if was.arm == CANARY:
            assert now.reason == "fallback"
            moved[now.arm] += 1
        else:
            assert now == was
    total = sum(moved.values())
    assert moved[CHAMPION] / total == pytest.approx(5 / 7, abs=0.01)
    assert CANARY not in moved


def test_a_failed_bandit_arm_is_never_chosen() -> None:
    router = Router(bandit("thompson")).without([CHALLENGER])
    for i in range(2_000):
        route = router.route()
        assert route.arm != CHALLENGER
        router.feedback(route.arm, i % 3 == 0)


@pytest.mark.parametrize("policy", [split(70, 30), bandit("epsilon_greedy")])
def test_no_available_arm_is_unavailable(policy: TrafficPolicy) -> None:
    router = Router(policy, available=[])
    with pytest.raises(Unavailable, match="did not load") as caught:
        router.route()
    assert isinstance(caught.value, KilnError)
    assert isinstance(caught.value, ConnectionError)


def test_only_zero_weight_arms_left_is_unavailable_with_a_hint() -> None:
    router = Router(split(100, 0, sticky_key="user_id")).without([CHAMPION])
    with pytest.raises(Unavailable, match="weight 0"):
        router.route("alice")


def test_names_outside_the_policy_are_ignored_in_available() -> None:
    router = Router(split(60, 40), available=[CHAMPION, "fraud/99"])
    assert router.available == frozenset({CHAMPION})
    assert {router.route().arm for _ in range(100)} == {CHAMPION}


def test_an_arm_comes_back_with_with_available() -> None:
    router = Router(split(50, 50), seed=2).without([CANARY])
    assert router.available == frozenset({CHAMPION})
    back = router.with_available([CHAMPION, CANARY])
    assert {back.route().arm for _ in range(200)} == {CHAMPION, CANARY}


# -- feedback and state ----------------------------------------------------------------------


def test_feedback_is_refused_where_it_cannot_teach() -> None:
    with pytest.raises(Conflict, match="mode"):
        Router(split(100)).feedback(CHAMPION, 1.0)
    router = Router(bandit(shadows=("fraud/9",)))
    with pytest.raises(InvalidInput, match="shadow") as caught:
        router.feedback("fraud/9", 1.0)
    assert caught.value.field == "arm"
    with pytest.raises(InvalidInput) as caught:
        router.feedback("fraud/99", 1.0)
    assert caught.value.field == "arm"
    with pytest.raises(InvalidInput) as caught:
        router.feedback(CHAMPION, 2.0)
    assert caught.value.field == "reward"


def test_routers_made_by_without_share_the_learning() -> None:
    router = Router(bandit("ucb1"))
    degraded = router.without([CANARY])
    degraded.feedback(CHAMPION, 1.0)
    router.feedback(CANARY, 0.0)
    arms = router.state()["arms"]
    assert degraded.state()["arms"] == arms
    assert (arms[CHAMPION]["rewards"], arms[CANARY]["rewards"]) == (1, 1)


@pytest.mark.parametrize("algorithm", ["epsilon_greedy", "ucb1", "thompson"])
def test_from_state_continues_identically(algorithm: str) -> None:
    environment = random.Random(1)
    router = Router(bandit(algorithm))
    for _ in range(300):
        arm = router.route().arm
        router.feedback(arm, environment.random() < 0.5)
    saved = json.loads(json.dumps(router.state()))
    restored = Router.from_state(router.policy, saved)
    assert restored.state() == router.state()
    rewards = [environment.random() < 0.5 for _ in range(300)]
    for reward in rewards:
        original, copy = router.route(), restored.route()
        assert original == copy
        router.feedback(original.arm, reward)
        restored.feedback(copy.arm, reward)


def test_from_state_follows_a_changed_policy() -> None:
    router = Router(bandit("ucb1"))
    for _ in range(30):
        router.feedback(router.route().arm, 1.0)
    changed = TrafficPolicy(
        arms=(Arm(CHAMPION), Arm("fraud/9")),
        mode="bandit",
        bandit=BanditConfig("thompson", alpha=2.0),
    )
    restored = Router.from_state(changed, router.state())
    arms = restored.state()["arms"]
    assert set(arms) == {CHAMPION, "fraud/9"}
    assert arms[CHAMPION]["rewards"] == router.state()["arms"][CHAMPION]["rewards"]
    assert arms[CHAMPION]["alpha"] == 2.0 + arms[CHAMPION]["reward_sum"]
    assert arms["fraud/9"]["pulls"] == 0
    assert restored.state()["params"] == {"alpha": 2.0, "beta": 1.0}


def test_split_state_is_trivial_and_restores_nothing() -> None:
    router = Router(split(100))
    assert router.state() == {"mode": "split"}
    assert Router.from_state(bandit(), router.state()).state()["arms"][CHAMPION]["pulls"] == 0
    assert Router.from_state(split(100), {"anything": 1}).state() == {"mode": "split"}


# -- many threads ----------------------------------------------------------------------------


def run_threads(work: Any, count: int = 8) -> None:
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            work(index)
        except BaseException as exc:  # collected and re-raised on the main thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


@pytest.mark.parametrize("algorithm", ["epsilon_greedy", "ucb1", "thompson"])
def test_concurrent_routing_and_feedback_add_up(algorithm: str) -> None:
    router = Router(bandit(algorithm))
    degraded = router.without([CHALLENGER])
    successes = [0] * 8

    def work(index: int) -> None:
        environment = random.Random(index)
        for i in range(2_000):
            chosen = (degraded if i % 2 else router).route().arm
            reward = environment.random() < 0.6
            successes[index] += reward
            router.feedback(chosen, float(reward))

    run_threads(work)
    arms = router.state()["arms"].values()
    assert sum(arm["pulls"] for arm in arms) == 16_000
    assert sum(arm["rewards"] for arm in arms) == 16_000
    assert sum(arm["reward_sum"] for arm in arms) == sum(successes)


def test_concurrent_split_routing_keeps_its_proportions() -> None:
    router = Router(split(50, 30, 20, sticky_key="user_id"), seed=9)
    counts: list[Counter[str]] = [Counter() for _ in range(8)]

    def work(index: int) -> None:
        for i in range(10_000):
            counts[index][router.route(f"t{index}-{i}" if i % 2 else None).arm] += 1

    run_threads(work)
    total = sum(counts, Counter())
    assert sum(total.values()) == 80_000
    assert total[CHAMPION] / 80_000 == pytest.approx(0.5, abs=0.01)
