"""Bringing data from other platforms into Kiln.

::

    _mlflow.py    import_mlflow(context, source_uri, experiments=…): experiments,
                  runs (params, full metric histories, tags, status, times,
                  dataset inputs), artifacts, MLflow 3 logged models, registered
                  models, versions and aliases, read with the stock MLflow
                  client; idempotent (see docs/mlflow-import.md)
      _mlflow_source.py    reading runs; _mlflow_models.py logged models;
      _mlflow_registry.py  the registry; _mlflow_common.py what they share

Nothing but the CLI imports this package; ``mlflow`` is imported on first use.
"""

from kiln.migration._mlflow import import_mlflow
from kiln.migration._mlflow_common import ImportSummary

__all__ = ["ImportSummary", "import_mlflow"]
