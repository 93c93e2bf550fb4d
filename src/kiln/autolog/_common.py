"""What every library's autolog shares: keys, params, metric histories, datasets, models.

Each function logs into the run it is given and raises on failure;
callers wrap them in ``Session.safely`` so that a failure costs one
warning, not the fit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict

if TYPE_CHECKING:
    from kiln.autolog._session import Session

__all__ = [
    "EXAMPLE_ROWS",
    "clean_key",
    "fit_data",
    "head",
    "log_dataset",
    "log_estimator",
    "log_history",
    "log_model",
    "log_params",
    "training_frame",
]

#: Rows of the training data kept as the model's input example.
EXAMPLE_ROWS = 5
_MAX_KEY = 250
_MAX_PARAM = 6000
_NOT_IN_KEYS = re.compile(r"[^A-Za-z0-9_\-. ]")


def clean_key(name: object) -> str | None:
    """``name`` as a valid Kiln key (other characters, ``/`` included, become ``_``)."""
    key = _NOT_IN_KEYS.sub("_", str(name))[:_MAX_KEY]
    return key if key.strip() and key not in (".", "..") else None


def log_params(run_id: str | None, params: Mapping[str, Any], *, prefix: str = "") -> None:
    """Params as strings (cut to 6,000 characters); one the run holds with another value is kept.

    Keys go one by one so that a clash (the user logged ``C`` already)
    skips that key only; the clash is reported once, after the others.
    """
    from kiln import tracking

    clashes = []
    for name, value in params.items():
        key = clean_key(f"{prefix}{name}")
        if key is None:
            continue
        try:
            tracking.log_param(key, str(value)[:_MAX_PARAM], run_id=run_id)
        except Conflict:
            clashes.append(key)
    if clashes:
        raise Conflict(f"the run holds other values for the params {', '.join(clashes)}")


def log_estimator(
    run_id: str | None, estimator: Any, flavor: str, params: Mapping[str, Any]
) -> None:
    """Tags ``estimator_name`` / ``estimator_class`` / ``kiln.autolog`` and the params."""
    from kiln import tracking

    cls = type(estimator)
    tags = {
        "estimator_name": cls.__name__,
        "estimator_class": f"{cls.__module__}.{cls.__qualname__}",
        "kiln.autolog": flavor,
    }
    tracking.set_tags(tags, run_id=run_id)
    log_params(run_id, params)


def log_history(run_id: str | None, history: Mapping[str, Mapping[str, Iterable[Any]]]) -> None:
    """``{data: {metric: [value per iteration]}}`` as ``<data>-<metric>`` at step = iteration."""
    from kiln import tracking

    series: dict[str, list[float]] = {}
    for data, metrics in history.items():
        for metric, values in metrics.items():
            key = clean_key(f"{data}-{metric}")
            if key is not None:
                series[key] = [_number(value) for value in values]
    steps = max((len(values) for values in series.values()), default=0)
    for step in range(steps):
        points = {key: values[step] for key, values in series.items() if step < len(values)}
        tracking.log_metrics(points, step=step, run_id=run_id)


def _number(value: Any) -> float:
    """A metric value; ``(mean, std)`` pairs (cross-validation) give the mean."""
    if isinstance(value, tuple | list):
        value = value[0]
    return float(value)


def fit_data(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    """``X``, ``y`` and ``sample_weight`` from the arguments of ``fit(X, y, *, sample_weight)``."""
    x = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y", kwargs.get("Y"))
    return x, y, kwargs.get("sample_weight")


def head(data: Any, rows: int = EXAMPLE_ROWS) -> Any:
    """The first rows of ``data`` (DataFrame, Series, array, list), or None for anything else."""
    if data is None or _is_sparse(data):
        return None
    if hasattr(data, "iloc") and hasattr(data, "head"):
        return data.head(rows)
    if hasattr(data, "shape") and hasattr(data, "__getitem__"):
        return data[:rows]
    if isinstance(data, list | tuple):
        return list(data[:rows])
    return None


def _is_sparse(data: Any) -> bool:
    return type(data).__module__.startswith("scipy.sparse")


def training_frame(x: Any, y: Any = None) -> Any:
    """Features (and target) as one DataFrame for ``log_input``; None if they are not tabular.

    Array columns are named ``f0, f1, …`` (as XGBoost does); the target is
    named after its Series, else ``target`` (``target_0, …`` for several).
    """
    import numpy as np
    import pandas as pd

    if x is None or _is_sparse(x) or isinstance(x, str):
        return None
    if isinstance(x, pd.DataFrame):
        frame = x
    elif isinstance(x, pd.Series):
        frame = x.to_frame()
    else:
        array = np.asarray(x)
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2:
            return None
        frame = pd.DataFrame(array, columns=[f"f{i}" for i in range(array.shape[1])])
    frame = frame.rename(columns=str)
    if y is None or _is_sparse(y):
        return frame
    if isinstance(y, pd.Series | pd.DataFrame):
        target = y.to_frame() if isinstance(y, pd.Series) else y
        if isinstance(y, pd.Series) and y.name is None:
            target.columns = ["target"]
    else:
        values = np.asarray(y)
        if values.ndim == 1:
            target = pd.DataFrame({"target": values})
        else:
            target = pd.DataFrame(values.reshape(len(values), -1)).add_prefix("target_")
    target = target.rename(columns=str)
    target = target.rename(columns=lambda name: name if name not in frame.columns else f"{name}_y")
    target.index = frame.index
    return pd.concat([frame, target], axis=1)


def log_dataset(run_id: str | None, x: Any, y: Any = None) -> None:
    """Record the training data as the run's input (context ``training``)."""
    from kiln import tracking

    frame = training_frame(x, y)
    if frame is not None:
        tracking.log_input(frame, name="training_data", context="training", run_id=run_id)


def log_model(
    session: Session, model: Any, example: Any, predict: Callable[[Any], Any] | None = None
) -> None:
    """``kiln.models.log_model(model, "model")`` with the input example and the signature.

    With ``log_input_examples=False`` the signature is still inferred from
    the example and the model's prediction on it (``predict``, default
    ``model.predict``); only the example is not stored.
    """
    from kiln.models import infer_signature
    from kiln.models import log_model as log

    if example is None:
        log(model, "model", run_id=session.run_id)
    elif session.options.log_input_examples:
        log(model, "model", run_id=session.run_id, input_example=example)
    else:
        signature = infer_signature(example, (predict or model.predict)(example))
        log(model, "model", run_id=session.run_id, signature=signature)
