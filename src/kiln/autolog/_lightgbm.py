"""LightGBM: ``lightgbm.train`` and the scikit-learn wrappers' ``fit``.

``lightgbm.train``: its ``params`` and ``num_boost_round`` as params, the
training data as an input (when it is still in memory: a DataFrame or an
array), every evaluation metric of every ``valid_sets`` entry as
``<set>-<metric>`` at step = iteration (a callback logs them as training
runs), under early stopping the best iteration and the best scores
(``best_<set>-<metric>``), ``feature_importance.json`` (split and gain per
feature) and the booster as ``model``.

``LGBMClassifier.fit`` and friends: ``get_params()``, the training data,
the ``evals_result_`` histories after the fit, the best iteration and
scores, feature importance and the fitted wrapper as ``model``. The
wrapper trains through LightGBM's own ``train``; that call is not logged
again.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import lightgbm

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

IMPORTANCE_TYPES = ("split", "gain")


def patch() -> list[Patch]:
    from lightgbm import sklearn as wrappers

    classes = [wrappers.LGBMModel, *subclasses(wrappers.LGBMModel)]
    targets = [(cls, "fit") for cls in classes if cls.__module__ == wrappers.__name__]
    return [patch_function(lightgbm, "train", _patched_train), *patch_methods(targets, _fit)]


class _MetricsCallback:
    """Logs every evaluation result after each iteration (before early stopping's check)."""

    before_iteration = False

    def __init__(self, session: Session) -> None:
        self.session = session
        self.order = 20  # with record_evaluation, before early_stopping (30)
        self.failed = False
        self.keys: dict[tuple[str, str], str | None] = {}

    def __call__(self, env: Any) -> None:
        if not self.failed:
            logged = self.session.safely("logging evaluation metrics", self._log, env, hush=False)
            self.failed = logged is None

    def _log(self, env: Any) -> bool:
        from kiln import tracking

        points = {}
        for data, metric, value, *_ in env.evaluation_result_list or ():
            key = self.keys.get((data, metric), "")
            if key == "":
                key = self.keys[data, metric] = clean_key(f"{data}-{metric}")
            if key is not None:
                points[key] = float(value)
        if points:
            tracking.log_metrics(points, step=env.iteration, run_id=self.session.run_id)
        return True


def _patched_train(original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def train(*args: Any, **kwargs: Any) -> Any:
        session = begin("lightgbm.train", "lightgbm")
        if session is None:
            return original(*args, **kwargs)
        with session:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return original(*args, **kwargs)  # raises the library's own error
            arguments = bound.arguments
            train_set = arguments.get("train_set")
            data = getattr(train_set, "data", None)  # freed by training unless kept
            session.safely("logging params", _log_train_params, session, signature, arguments)
            if session.options.log_datasets:
                label = getattr(train_set, "label", None)
                session.safely(
                    "logging the training data", log_dataset, session.run_id, data, label
                )
            if session.run_id is not None:
                callbacks = list(arguments.get("callbacks") or ())
                arguments["callbacks"] = [*callbacks, _MetricsCallback(session)]
            example = head(data)
            booster = original(*bound.args, **bound.kwargs)
            session.safely("logging the results", _log_results, session, booster)
            if session.options.log_models:
                session.safely(
                    "logging the model", log_model, session, booster, example, booster.predict
                )
            return booster

    return train


def _log_train_params(
    session: Session, signature: inspect.Signature, arguments: dict[str, Any]
) -> None:
    from kiln import tracking

    tracking.set_tag("kiln.autolog", "lightgbm", run_id=session.run_id)
    params = dict(arguments.get("params") or {})
    rounds = arguments.get("num_boost_round", signature.parameters["num_boost_round"].default)
    log_params(session.run_id, {**params, "num_boost_round": rounds})


def _log_results(session: Session, booster: Any) -> None:
    """Best iteration and scores (only under early stopping) and feature importance."""
    from kiln import tracking

    best = booster.best_iteration
    if best and best > 0:
        scores: Mapping[str, Mapping[str, Any]] = booster.best_score or {}
        metrics = {"best_iteration": float(best)}
        for data, values in scores.items():
            for metric, value in values.items():
                key = clean_key(f"best_{data}-{metric}")
                if key is not None:
                    metrics[key] = float(value)
        tracking.log_metrics(metrics, run_id=session.run_id)
    names = booster.feature_name()
    importance = {
        kind: dict(
            zip(names, booster.feature_importance(importance_type=kind).tolist(), strict=True)
        )
        for kind in IMPORTANCE_TYPES
    }
    tracking.log_dict(importance, "feature_importance.json", run_id=session.run_id)


def _fit(model: Any, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    session = begin(type(model).__name__, "lightgbm")
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
    log_estimator(session.run_id, model, "lightgbm", model.get_params())


def _log_wrapper_results(session: Session, model: Any) -> None:
    log_history(session.run_id, model.evals_result_ or {})
    _log_results(session, model.booster_)
