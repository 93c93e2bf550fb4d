"""The model a caller names by URI: a registered version, and the classifier for label errors.

The SDK, the CLI and the REST API all name models as text, so they check
it here the same way: :func:`registered_model` refuses anything but a
version in the registry (``models:/name@alias``, ``models:/name/3``, a
``…/latest``), with the error naming ``model`` — never a local path, which
over REST would be a file on the server.

Confident learning refits its classifier fold by fold, so a registered
model lends its recipe, not its weights: :func:`estimator_for` clones its
native scikit-learn estimator unfitted. Without a model a scaled logistic
regression is used, a sound default on numeric fields. :func:`flag_with`
runs ``flag_label_errors`` with either, and reports a classifier that
cannot learn from the tasks (a NaN field, columns it expects by name) as
bad input rather than a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput, KilnError

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["default_estimator", "estimator_for", "flag_with", "registered_model"]

USAGE = "name a registered model: models:/<name>@<alias>, models:/<name>/<version> or …/latest"


def registered_model(context: Context, uri: str) -> str:
    """``uri`` once it names a version in the registry of ``context``; errors name ``model``."""
    from kiln.context import using_context
    from kiln.registry import get_model_version, get_model_version_by_alias, parse_models_uri

    try:
        ref = parse_models_uri(uri)
        with using_context(context):  # the registry of this context (and project)
            if ref.alias is not None:
                get_model_version_by_alias(ref.name, ref.alias)
            else:
                assert ref.version is not None
                get_model_version(ref.name, ref.version)
    except InvalidInput as error:
        raise InvalidInput(f"{error.message}; {USAGE}", field="model") from None
    except KilnError as error:
        raise type(error)(error.message, field="model") from None
    return uri


def default_estimator() -> Any:
    """Standardized numeric fields into a logistic regression: fast, calibrated enough."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def estimator_for(context: Context, model_uri: str | None) -> Any:
    """An unfitted copy of the registered model's scikit-learn estimator, or the default."""
    if model_uri is None:
        return default_estimator()
    from sklearn.base import BaseEstimator, clone

    from kiln.context import using_context
    from kiln.registry import load_model

    registered_model(context, model_uri)
    with using_context(context):
        native = load_model(model_uri, native=True)
    if not isinstance(native, BaseEstimator):
        raise InvalidInput(
            f"{model_uri} is a {type(native).__module__}.{type(native).__qualname__}, not a "
            "scikit-learn estimator; label errors refit the model fold by fold, so give a "
            "scikit-learn classifier, or no model for the default",
            field="model",
        )
    return clone(native)


def flag_with(
    context: Context, project: str, name: str, model: Any, *, folds: int = 5
) -> list[int]:
    """``flag_label_errors`` with ``model`` an estimator, a registered model's URI or None."""
    from kiln.labeling._label_errors import flag_label_errors

    named = model is None or isinstance(model, str)
    estimator = estimator_for(context, model) if named else model
    try:
        return flag_label_errors(context, project, name, estimator, folds=folds)
    except KilnError:
        raise
    except (ValueError, TypeError) as error:  # scikit-learn's word for data it cannot fit
        which = f"the model {model}" if isinstance(model, str) else "the classifier"
        why = next(iter(str(error).splitlines()), type(error).__name__)
        raise InvalidInput(
            f"{which} could not learn from the tasks' numeric fields: {why}; fill or drop "
            "the missing values, or give a model that takes a plain matrix of numbers",
            field="model",
        ) from None
