"""The sticky-assignment hash: one documented function others can reproduce.

A load balancer or a JavaScript client must be able to tell which arm a
request key lands on without calling Kiln, so the function is spelled out
in docs/serving-traffic.md with test vectors, and nothing here depends on
Python's own ``hash`` (salted per process) or on the platform.
"""

from __future__ import annotations

import hashlib

__all__ = ["BUCKETS", "bucket", "sticky_hash"]

#: Weights are percentages with two decimals, so 100.00 % is 10,000 buckets.
BUCKETS = 10_000


def sticky_hash(key: str, salt: str = "") -> int:
    """The first 8 bytes of SHA-256(``salt + ":" + key``, UTF-8), big-endian unsigned.

    Returns an integer in [0, 2**64). The salt comes first and the colon is
    always there, so ``("a", "b:c")`` and ``("a:b", "c")`` cannot collide.
    """
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def bucket(key: str, salt: str = "") -> int:
    """The key's bucket in [0, ``BUCKETS``): ``sticky_hash(key, salt) % 10000``."""
    return sticky_hash(key, salt) % BUCKETS
