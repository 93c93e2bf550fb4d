"""Adaptive micro-batching over real HTTP: concurrent requests share model calls, every
answer is its own, the batch size is bounded, a full queue is a 503 with Retry-After."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from kiln.serving import ModelSpec
from tests.serving._prometheus import metric
from tests.serving.conftest import serving


def fire(url: str, bodies: list[dict[str, Any]], threads: int) -> list[httpx.Response]:
    def post(body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60) as client:
            return client.post("/v1/models/slow/predict", json=body)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(post, bodies))


def test_concurrent_requests_share_model_calls_and_get_their_own_answers(
    slow_scorer: Path,
) -> None:
    spec = ModelSpec(str(slow_scorer), name="slow", allow_pickle=True, max_batch_size=8)
    bodies = [{"records": [{"amount": float(i), "count": 1, "city": "x"}]} for i in range(32)]
    with serving([spec]) as client:
        answers = fire(str(client.base_url), bodies, threads=16)
        text = client.get("/metrics").text
    assert [a.status_code for a in answers] == [200] * 32
    assert [a.json()["predictions"] for a in answers] == [[2.0 * i + 1] for i in range(32)]
    batches = metric(text, "kiln_batch_size_rows_count", model="slow")
    rows = metric(text, "kiln_batch_size_rows_sum", model="slow")
    assert rows == 32
    # 50 ms per call: 32 calls one by one would take 1.6 s; batches of up to 8 rows share them.
    assert batches < 16
    assert metric(text, "kiln_batch_size_rows_bucket", model="slow", le="8.0") == batches
    assert metric(text, "kiln_requests_total", model="slow", code="200") == 32


def test_a_request_larger_than_the_batch_runs_alone(slow_scorer: Path) -> None:
    spec = ModelSpec(str(slow_scorer), name="slow", allow_pickle=True, max_batch_size=4)
    rows = [{"amount": float(i), "count": 0, "city": "x"} for i in range(10)]
    with serving([spec]) as client:
        answer = client.post("/v1/models/slow/predict", json={"records": rows})
    assert answer.json()["predictions"] == [2.0 * i for i in range(10)]


def test_a_full_queue_answers_503_with_retry_after_and_recovers(slow_scorer: Path) -> None:
    spec = ModelSpec(
        str(slow_scorer), name="slow", allow_pickle=True, max_batch_size=1, max_queue_rows=2
    )
    bodies = [{"records": [{"amount": 1.0, "count": 1, "city": "x"}]} for _ in range(12)]
    with serving([spec]) as client:
        answers = fire(str(client.base_url), bodies, threads=12)
        codes = sorted(a.status_code for a in answers)
        refused = [a for a in answers if a.status_code == 503]
        assert refused, codes
        assert set(codes) == {200, 503}
        assert all(a.headers["retry-after"] == "1" for a in refused)
        assert all(a.json()["error_code"] == "OVERLOADED" for a in refused)
        after = client.post("/v1/models/slow/predict", json=bodies[0])
        assert after.status_code == 200
        text = client.get("/metrics").text
    assert metric(text, "kiln_errors_total", model="slow", kind="overloaded") == len(refused)
    assert metric(text, "kiln_queue_rows", model="slow") == 0


def test_batching_off_calls_the_model_per_request(slow_scorer: Path) -> None:
    spec = ModelSpec(str(slow_scorer), name="slow", allow_pickle=True, batching=False)
    bodies = [{"records": [{"amount": 1.0, "count": 1, "city": "x"}]} for _ in range(6)]
    with serving([spec]) as client:
        answers = fire(str(client.base_url), bodies, threads=6)
        text = client.get("/metrics").text
    assert all(a.status_code == 200 for a in answers)
    assert metric(text, "kiln_batch_size_rows_count", model="slow") == 6
