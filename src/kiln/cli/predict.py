"""``kiln predict``: score a file, a folder or a dataset version with a model, into Parquet.

A thin adapter over :func:`kiln.serving._batch.score`, run inside the
context of ``--home`` / ``--project``, so ``models:/`` URIs and
``name@version`` inputs are looked up in the store those options name.
"""

from __future__ import annotations

from typing import Literal

import typer

from kiln.cli._app import context
from kiln.cli._output import console, print_json


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)


def predict(
    ctx: typer.Context,
    model_uri: str = typer.Argument(
        ..., help="models:/name@alias, models:/name/3, runs:/ID/path or a model folder."
    ),
    input_: str = typer.Option(
        ...,
        "--input",
        "-i",
        help="A Parquet or CSV file, a folder of Parquet files, or a dataset version name@3.",
    ),
    output: str = typer.Option(
        ...,
        "--output",
        "-o",
        help="out.parquet for one file; any other name is a folder of part files.",
    ),
    chunk_rows: int = typer.Option(
        65_536, "--chunk-rows", min=1, help="Rows read, scored and written at a time."
    ),
    proba: bool = typer.Option(
        False, "--proba", help="Write class probabilities (proba_<class>) instead of predictions."
    ),
    keep: list[str] = typer.Option(
        [], "--keep", "-k", help="Input columns to copy beside the predictions (ids); repeatable."
    ),
    runner: Literal["local", "ray"] = typer.Option(
        "local", "--runner", help="local, or ray: one Ray task per input partition."
    ),
    allow_pickle: bool = typer.Option(
        False, "--allow-pickle", help="Load a pickled model: only one you trust, it runs code."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Score every row of the input with a model; stream it in chunks into Parquet."""
    from kiln.context import using_context
    from kiln.serving._batch import score
    from kiln.serving._batch_progress import progress_bar

    kiln = context(ctx)
    columns = [name.strip() for value in keep for name in value.split(",") if name.strip()]
    # The bar goes to stderr, and only to a terminal; --json keeps stdout clean either way.
    with using_context(kiln), progress_bar(enabled=False if as_json else None) as bar:
        result = score(
            model_uri,
            input_,
            output,
            chunk_rows=chunk_rows,
            method="predict_proba" if proba else "predict",
            keep=columns,
            runner=runner,
            progress=bar,
            allow_pickle=allow_pickle,
        )
    if as_json:
        print_json(result.to_dict())
        return
    model = result.model_version or result.model_uri
    console.print(
        f"scored {result.rows:,} rows in {result.chunks:,} chunks ({result.partitions:,} "
        f"partitions) with {model} in {result.seconds:.2f} s "
        f"({result.rows_per_second:,.0f} rows/s) → {result.output}",
        highlight=False,
    )
    console.print(f"columns: {', '.join(result.columns)}", highlight=False)
