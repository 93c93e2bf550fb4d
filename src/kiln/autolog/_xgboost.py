"""XGBoost: ``xgboost.train`` and the scikit-learn wrappers' ``fit``.

``xgboost.train``: its ``params`` and ``num_boost_round`` (and
``early_stopping_rounds``, ``maximize`` when given) as params, every
evaluation metric of every ``evals`` set as ``<set>-<metric>`` at step =
iteration (logged by a training callback as training runs), the best
iteration and score under early stopping, ``feature_importance.json``
(weight and gain per feature) and the booster as ``model``.

``XGBClassifier.fit`` and friends: ``get_params()``, the training data as
an input, the ``evals_result()`` histories after the fit (same keys), best
iteration and score, feature importance and the fitted wrapper as
``model``. The wrapper calls XGBoost's training internally; that call is
not logged again.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import xgboost

from kiln.autolog._common import (
    clean_key,
    fit_data,
    head,
    log_dataset,
    log_estimator,
    log_history,
    log_model,
    log_params,
)
from kiln.autolog._patch import Patch, patch_function, patch_methods, subclasses
from kiln.autolog._session import Session, begin

__all__ = ["patch"]

IMPORTANCE_TYPES = ("weight", "gain")


def patch() -> list[Patch]:
    from xgboost import sklearn as wrappers

    classes = [wrappers.XGBModel, *subclasses(wrappers.XGBModel)]
    targets = [(cls, "fit") for cls in classes if cls.__module__ == wrappers.__name__]
    return [patch_function(xgboost, "train", _patched_train), *patch_methods(targets, _fit)]


class _MetricsCallback(xgboost.callback.TrainingCallback):
    """Logs the latest value of every evaluation metric after each iteration."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.failed = False
        self.keys: dict[tuple[str, str], str | None] = {}

    def after_iteration(
        self, model: Any, epoch: int, evals_log: Mapping[str, Mapping[str, Any]]
    ) -> bool:
        if not self.failed:
            logged = self.session.safely(
                "logging evaluation metrics", self._log, epoch, evals_log, hush=False
            )
            self.failed = logged is None
        return False

    def _log(self, epoch: int, evals_log: Mapping[str, Mapping[str, Any]]) -> bool:
        from kiln import tracking

        points = {}
        for data, metrics in evals_log.items():
            for metric, values in metrics.items():
                key = self.keys.get((data, metric), "")
                if key == "":
                    key = self.keys[data, metric] = clean_key(f"{data}-{metric}")
                if key is not None and values:
                    last = values[-1]
                    points[key] = float(last[0] if isinstance(last, tuple) else last)
        if points:
            tracking.log_metrics(points, step=epoch, run_id=self.session.run_id)
        return True


def _patched_train(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        session = begin("xgboost.train", "xgboost")
        if session is None:
            return original(*args, **kwargs)
        with session:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return original(*args, **kwargs)  # raises the library's own error
            arguments = bound.arguments
            session.safely("logging params", _log_train_params, session, signature, arguments)
            if session.run_id is not None:
                callbacks = list(arguments.get("callbacks") or ())
                arguments["callbacks"] = [*callbacks, _MetricsCallback(session)]
            booster = original(*bound.args, **bound.kwargs)
            session.safely("logging the results", _log_booster_results, session, booster)
            if session.options.log_models:
                session.safely("logging the model", _log_booster, session, booster, arguments)
            return booster

    return train


def _log_train_params(
    session: Session, signature: inspect.Signature, arguments: dict[str, Any]
) -> None:
    from kiln import tracking

    tracking.set_tag("kiln.autolog", "xgboost", run_id=session.run_id)
    given = arguments.get("params") or {}
    collected: dict[str, list[Any]] = {}
    for key, value in given.items() if isinstance(given, Mapping) else given:
        collected.setdefault(key, []).append(value)  # pairs may repeat eval_metric
    params = {key: values[0] if len(values) == 1 else values for key, values in collected.items()}
    for name in ("num_boost_round", "early_stopping_rounds", "maximize"):
        value = arguments.get(name, signature.parameters[name].default)
        if value is not None:
            params[name] = value
    log_params(session.run_id, params)


def _log_booster_results(session: Session, booster: Any) -> None:
    from kiln import tracking

    best = {
        "best_iteration": booster.attr("best_iteration"),
        "best_score": booster.attr("best_score"),
    }
    found = {key: float(value) for key, value in best.items() if value is not None}
    if found:
        tracking.log_metrics(found, run_id=session.run_id)
    _log_importance(session, booster)


def _log_importance(session: Session, booster: Any) -> None:
    from kiln import tracking

    importance = {}
    for kind in IMPORTANCE_TYPES:
        try:
            importance[kind] = booster.get_score(importance_type=kind)
        except xgboost.core.XGBoostError:  # e.g. gblinear has no gain
            continue
    tracking.log_dict(importance, "feature_importance.json", run_id=session.run_id)


def _log_booster(session: Session, booster: Any, arguments: dict[str, Any]) -> None:
    example = _example(arguments.get("dtrain"))

    def predict(data: Any) -> Any:
        return booster.predict(xgboost.DMatrix(data))

    log_model(session, booster, example, predict)


def _example(dtrain: Any) -> Any:
    """The first rows of a DMatrix (missing values as NaN), or None if it cannot give them."""
    import numpy as np
    import pandas as pd

    try:
        rows = dtrain.slice(list(range(min(5, dtrain.num_row()))))
        matrix = rows.get_data().tocoo()
    except (AttributeError, ValueError, xgboost.core.XGBoostError):
        return None  # a QuantileDMatrix, categorical data, or not a DMatrix at all
    dense = np.full(matrix.shape, np.nan, dtype=np.float32)
    dense[matrix.row, matrix.col] = matrix.data
    names = dtrain.feature_names
    return pd.DataFrame(dense, columns=names) if names else dense


def _fit(model: Any, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    session = begin(type(model).__name__, "xgboost")
    if session is None:
        return method(*args, **kwargs)
    with session:
        x, y, _ = fit_data(args, kwargs)
        session.safely("logging params", _log_wrapper_params, session, model)
        if session.options.log_datasets:
            session.safely("logging the training data", log_dataset, session.run_id, x, y)
        result = method(*args, **kwargs)
        session.safely("logging the results", _log_wrapper_results, session, model)
        if session.options.log_models:
            session.safely("logging the model", log_model, session, model, head(x))
        return result


def _log_wrapper_params(session: Session, model: Any) -> None:
    log_estimator(session.run_id, model, "xgboost", model.get_params())


def _log_wrapper_results(session: Session, model: Any) -> None:
    log_history(session.run_id, getattr(model, "evals_result_", None) or {})
    _log_booster_results(session, model.get_booster())
