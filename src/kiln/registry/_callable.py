"""Running ``callable`` gate checks in the caller's process (the SDK and the CLI).

A callable check names ``package.module:function`` and a validation dataset.
The function gets the version's ``Predictor`` and the dataset as a pandas
DataFrame and returns a bool, or ``(bool, detail)`` where ``detail`` is text or
a number (a number is stored as the observed value). Whatever goes wrong —
the module does not import, the dataset cannot be read, the function raises or
returns something else — the check fails with the reason as its detail: a gate
fails closed.
"""

from __future__ import annotations

import importlib
import math
import numbers
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kiln.errors import InvalidInput
from kiln.registry._checks import MAX_DETAIL
from kiln.registry._entities import CallableCheck, Check, CheckResult


def resolve_callable(reference: str) -> Callable[..., Any]:
    """``"package.module:function"`` (or ``module:Class.method``) → the callable."""
    module_name, _, attribute = reference.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise InvalidInput(f"{reference} is not callable", field="callable")
    return target  # type: ignore[no-any-return]


def load_dataset(reference: str) -> Any:
    """A validation dataset as a DataFrame: a Parquet/CSV path or a ``runs:/`` artifact."""
    import pandas as pd

    if reference.startswith("runs:/"):
        from kiln import tracking
        from kiln.models import parse_runs_uri

        run_id, path = parse_runs_uri(reference)
        with tempfile.TemporaryDirectory(prefix="kiln-dataset-") as folder:
            local = tracking.download_artifacts(run_id, path, folder)
            return _read(pd, local)
    return _read(pd, Path(reference).expanduser())


def _read(pd: Any, path: Path) -> Any:
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def _fail(check: Check, detail: str) -> CheckResult:
    return CheckResult(check.name, check.type, False, None, detail[:MAX_DETAIL], "caller")


def _outcome(check: CallableCheck, returned: Any) -> CheckResult:
    detail: Any = ""
    verdict = returned
    if isinstance(returned, tuple) and len(returned) == 2:
        verdict, detail = returned
    if not isinstance(verdict, bool) and type(verdict).__name__ != "bool_":  # numpy.bool_
        return _fail(
            check,
            f"{check.callable} returned {returned!r}; it must return a bool or (bool, detail)",
        )
    observed = None
    if isinstance(detail, bool):
        detail = str(detail)
    elif isinstance(detail, numbers.Real):
        observed = float(detail)
        detail = f"{observed:g}" if math.isfinite(observed) else str(observed)
    return CheckResult(
        check.name, check.type, bool(verdict), observed, str(detail)[:MAX_DETAIL], "caller"
    )


def run_callable_checks(
    checks: Sequence[Check], load_predictor: Callable[[], Any]
) -> list[CheckResult]:
    """Results of the gate's callable checks (the model is loaded once, only if needed)."""
    callables = [check for check in checks if isinstance(check, CallableCheck)]
    if not callables:
        return []
    try:
        predictor = load_predictor()
    except Exception as exc:  # a model that cannot be loaded fails every callable check
        return [_fail(c, f"cannot load the model: {type(exc).__name__}: {exc}") for c in callables]
    frames: dict[str, Any] = {}
    results = []
    for check in callables:
        try:
            function = resolve_callable(check.callable)
        except Exception as exc:  # import errors of user code are the check's failure
            results.append(_fail(check, f"cannot import {check.callable}: {exc}"))
            continue
        try:
            if check.dataset not in frames:
                frames[check.dataset] = load_dataset(check.dataset)
        except Exception as exc:  # missing or unreadable dataset
            results.append(_fail(check, f"cannot read dataset {check.dataset!r}: {exc}"))
            continue
        try:
            returned = function(predictor, frames[check.dataset])
        except Exception as exc:  # the user's check raised: it did not pass
            results.append(_fail(check, f"{check.callable} raised {type(exc).__name__}: {exc}"))
            continue
        results.append(_outcome(check, returned))
    return results
