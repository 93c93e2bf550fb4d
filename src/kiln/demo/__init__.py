"""The end-to-end demo of Kiln (``kiln demo``) and its data generators.

- ``run_demo(context)`` walks the lifecycle stage by stage on the configured
  store and prints what it did and where to look; each capability adds its stage.
- ``kiln.demo.data.generate(...)`` draws the deterministic card-transactions
  world (customers, merchants, transactions, a fraud label, a sensitive
  attribute, switchable drift and data-quality faults) that the demo and the
  tests of later capabilities use.

Nothing heavy is imported until the demo runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["DEMO_PROJECT", "run_demo"]

DEMO_PROJECT = "demo"


def run_demo(context: Context, **options: Any) -> None:
    """Run the demo on ``context``'s stores (see ``kiln.demo._run``)."""
    from kiln.demo._run import run

    run(context, **options)
