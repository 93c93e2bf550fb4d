"""Bringing data from other platforms into Kiln.

::

    _mlflow.py    import_mlflow(context, source_uri, experiments=…): experiments,
                  runs (params, full metric histories, tags, status, times),
                  artifacts, registered models, versions and aliases, read with
                  the stock MLflow client; idempotent (see docs/mlflow-import.md)

Nothing but the CLI imports this package; ``mlflow`` is imported on first use.
"""

from kiln.migration._mlflow import import_mlflow
from kiln.migration._mlflow_common import ImportSummary

__all__ = ["ImportSummary", "import_mlflow"]
