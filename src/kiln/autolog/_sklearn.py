"""scikit-learn: ``fit``, ``fit_transform`` and ``fit_predict`` of every estimator class.

Per autologged call: tags ``estimator_name``/``estimator_class``, the
estimator's ``get_params(deep=False)``, the training data as an input;
after the fit, training metrics (classifiers and regressors with a target),
for searches (``GridSearchCV`` and friends) the best params and score,
``cv_results.parquet`` and one child run per best candidate; then the model
with its input example and signature.

Preprocessing, imputation and feature-selection classes and
``ColumnTransformer`` are left alone, as in MLflow: fitted on their own
they are rarely a model anyone tracks, and inside a pipeline the pipeline
logs.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any

from kiln.autolog._common import (
    fit_data,
    head,
    log_dataset,
    log_estimator,
    log_model,
    log_params,
)
from kiln.autolog._patch import Patch, patch_methods
from kiln.autolog._session import Session, begin

__all__ = ["patch"]

METHODS = ("fit", "fit_transform", "fit_predict")
EXCLUDED_MODULES = (
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.feature_extraction",
    "sklearn.feature_selection",
)
EXCLUDED_CLASSES = frozenset({"ColumnTransformer"})
#: Candidates of a search that get a child run each, best ranked first.
MAX_TUNING_RUNS = 5

_classes: list[type] | None = None


def patch() -> list[Patch]:
    targets = [(cls, name) for cls in estimator_classes() for name in METHODS]
    return patch_methods(targets, _call)


def estimator_classes() -> list[type]:
    """The estimator classes scikit-learn lists, minus the excluded ones (found once)."""
    global _classes
    if _classes is None:
        from sklearn.utils import all_estimators

        with warnings.catch_warnings():  # importing every module may raise notices
            warnings.simplefilter("ignore")
            found = all_estimators()
        _classes = [
            cls
            for name, cls in found
            if name not in EXCLUDED_CLASSES and not cls.__module__.startswith(EXCLUDED_MODULES)
        ]
    return _classes


def _call(estimator: Any, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    session = begin(type(estimator).__name__, "sklearn")
    if session is None:
        return method(*args, **kwargs)
    with session:
        x, y, sample_weight = fit_data(args, kwargs)
        session.safely("logging params and tags", _log_params, session, estimator)
        if session.options.log_datasets:
            session.safely("logging the training data", log_dataset, session.run_id, x, y)
        result = method(*args, **kwargs)
        session.safely(
            "computing training metrics", _log_metrics, session, estimator, x, y, sample_weight
        )
        if hasattr(estimator, "cv_results_"):
            session.safely("logging the search results", _log_search, session, estimator)
        if session.options.log_models:
            session.safely("logging the model", _log_model, session, estimator, x)
        return result


def _log_params(session: Session, estimator: Any) -> None:
    log_estimator(session.run_id, estimator, "sklearn", estimator.get_params(deep=False))


def _log_metrics(session: Session, estimator: Any, x: Any, y: Any, sample_weight: Any) -> None:
    from kiln import tracking

    if y is None or not hasattr(estimator, "predict"):
        return
    values = training_metrics(estimator, x, y, sample_weight)
    if values:
        tracking.log_metrics(values, run_id=session.run_id)


def training_metrics(estimator: Any, x: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
    """Metrics of the fitted ``estimator`` on its training data, named ``training_*``.

    A metric the task does not allow (``roc_auc`` with one class, a
    multi-output target) is left out. ``training_score`` reuses accuracy or
    R² when the estimator's ``score`` is scikit-learn's default.
    """
    import sklearn
    from sklearn import metrics
    from sklearn.base import ClassifierMixin, RegressorMixin, is_classifier, is_regressor

    weights = {} if sample_weight is None else {"sample_weight": sample_weight}
    found: dict[str, float] = {}

    def add(name: str, compute: Any, *args: Any, **options: Any) -> None:
        with contextlib.suppress(ValueError, TypeError, IndexError, AttributeError):
            found[f"training_{name}"] = float(compute(*args, **options))

    # The inputs are what fit just accepted; validating them again for every
    # metric would cost more than the metrics themselves on small data.
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        if is_classifier(estimator):
            predicted = estimator.predict(x)
            add("accuracy_score", metrics.accuracy_score, y, predicted, **weights)
            with contextlib.suppress(ValueError, TypeError, IndexError):
                precision, recall, f1, _ = metrics.precision_recall_fscore_support(
                    y, predicted, average="weighted", **weights
                )
                found["training_precision_score"] = float(precision)
                found["training_recall_score"] = float(recall)
                found["training_f1_score"] = float(f1)
            if hasattr(estimator, "predict_proba"):
                proba = estimator.predict_proba(x)
                classes = getattr(estimator, "classes_", None)
                add("log_loss", metrics.log_loss, y, proba, labels=classes, **weights)
                add("roc_auc", _roc_auc, y, proba, classes, weights)
            default_score = ClassifierMixin.score, "training_accuracy_score"
        elif is_regressor(estimator):
            predicted = estimator.predict(x)
            add("mean_squared_error", metrics.mean_squared_error, y, predicted, **weights)
            if "training_mean_squared_error" in found:
                mse = found["training_mean_squared_error"]
                found["training_root_mean_squared_error"] = math.sqrt(mse)
            add("mean_absolute_error", metrics.mean_absolute_error, y, predicted, **weights)
            add("r2_score", metrics.r2_score, y, predicted, **weights)
            default_score = RegressorMixin.score, "training_r2_score"
        else:
            return found
        method, same_as = default_score
        if type(estimator).score is method and same_as in found:
            found["training_score"] = found[same_as]
        else:
            add("score", estimator.score, x, y, **weights)
    return found


def _roc_auc(y: Any, proba: Any, classes: Any, weights: dict[str, Any]) -> float:
    from sklearn.metrics import roc_auc_score

    if proba.ndim == 2 and proba.shape[1] == 2:
        return float(roc_auc_score(y, proba[:, 1], **weights))
    return float(
        roc_auc_score(y, proba, multi_class="ovr", average="weighted", labels=classes, **weights)
    )


def _log_search(session: Session, search: Any) -> None:
    """Best params and score, the whole ``cv_results_`` table, and child runs for the best."""
    import pandas as pd

    from kiln import tracking

    if hasattr(search, "best_params_"):
        log_params(session.run_id, search.best_params_, prefix="best_")
    if isinstance(getattr(search, "best_score_", None), int | float):
        tracking.log_metric("best_cv_score", search.best_score_, run_id=session.run_id)
    table = pd.DataFrame(search.cv_results_)
    for column in table.columns:
        if table[column].dtype == object:
            table[column] = table[column].astype(str)
    tracking.log_table(table, "cv_results.parquet", run_id=session.run_id)
    _log_candidates(session, search.cv_results_)


def _log_candidates(session: Session, results: dict[str, Any]) -> None:
    """One child run per best-ranked candidate: its params and its mean/std/rank scores."""
    from kiln import tracking

    rank_keys = sorted(key for key in results if key.startswith("rank_test_"))
    if not rank_keys:
        return
    ranks = list(results[rank_keys[0]])
    best = sorted(range(len(ranks)), key=lambda index: (ranks[index], index))[:MAX_TUNING_RUNS]
    scores = [key for key in results if key.startswith(("mean_", "std_", "rank_"))]
    for index in best:
        with tracking.start_run(
            run_name=f"candidate-{index}", nested=True, capture_environment=False
        ) as child:
            log_params(child.id, results["params"][index])
            tracking.log_metrics(
                {key: float(results[key][index]) for key in scores}, run_id=child.id
            )


def _log_model(session: Session, estimator: Any, x: Any) -> None:
    """The fitted estimator (for a search, its refitted ``best_estimator_``)."""
    model = getattr(estimator, "best_estimator_", estimator)
    if hasattr(model, "predict"):
        log_model(session, model, head(x))
