"""``kiln demo``: the end-to-end demo on the configured (by default embedded) store."""

from __future__ import annotations

import typer

from kiln.cli._app import context


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    seed: int = typer.Option(7, help="Seed of the demo data."),
    transactions: int = typer.Option(50_000, min=1_000, help="Card transactions to generate."),
) -> None:
    """Run the end-to-end demo in the `demo` project and print where to look."""
    from kiln.demo import run_demo

    run_demo(context(ctx), seed=seed, n_transactions=transactions)
