"""``kiln.autolog(...)`` and ``kiln.autolog.disable()``: switch the patches on and off."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any

from kiln.autolog import _state
from kiln.autolog._patch import Patch
from kiln.errors import InvalidInput

__all__ = ["DEFAULT_FLAVORS", "FLAVORS", "Autolog", "autolog", "disable", "make_callable"]

#: flavor → (the library it needs, the module whose ``patch()`` patches it); resolved lazily.
FLAVORS = {
    "sklearn": ("sklearn", "kiln.autolog._sklearn"),
    "xgboost": ("xgboost", "kiln.autolog._xgboost"),
    "lightgbm": ("lightgbm", "kiln.autolog._lightgbm"),
}
DEFAULT_FLAVORS = ("sklearn", "xgboost", "lightgbm")

_patches: list[Patch] = []


class Autolog:
    """Automatic logging of scikit-learn, XGBoost and LightGBM training into Kiln runs.

    ``kiln.autolog()`` turns it on, ``kiln.autolog(...)`` again changes the
    options, ``kiln.autolog.disable()`` (or ``disable=True``) turns it off and
    puts every patched method back. See docs/autolog.md.
    """

    def __call__(
        self,
        *,
        disable: bool = False,
        log_models: bool = True,
        log_input_examples: bool = True,
        log_datasets: bool = True,
        exclusive: bool = False,
        silent: bool = False,
        flavors: Sequence[str] = DEFAULT_FLAVORS,
    ) -> None:
        """Log every fit of the installed libraries among ``flavors`` from now on.

        - ``log_models``: log the fitted model (``model`` artifact, Kiln's format);
        - ``log_input_examples``: store the first rows of the training data with it
          (the signature is inferred either way);
        - ``log_datasets``: record the training data as the run's input;
        - ``exclusive``: log nothing into runs the user started, only into runs
          autolog starts itself;
        - ``silent``: no ``AutologWarning`` when logging fails (the fit never does);
        - ``flavors``: among ``sklearn``, ``xgboost``, ``lightgbm``; libraries that are
          not installed are skipped; the installed ones are imported now (one that
          fails to import is an ``AutologWarning``, and skipped).
        """
        if isinstance(flavors, str):
            flavors = (flavors,)
        unknown = sorted(set(flavors) - set(FLAVORS))
        if unknown:
            raise InvalidInput(
                f"kiln.autolog does not know the flavor {unknown[0]!r}; "
                f"choose among {', '.join(FLAVORS)}",
                field="flavors",
            )
        _unpatch()
        if disable:
            _state.set_options(None)
            return
        _state.set_options(
            _state.Options(
                log_models=log_models,
                log_input_examples=log_input_examples,
                log_datasets=log_datasets,
                exclusive=exclusive,
                silent=silent,
            )
        )
        for name in dict.fromkeys(flavors):
            library, module = FLAVORS[name]
            if importlib.util.find_spec(library) is None:
                continue
            try:
                _patches.extend(importlib.import_module(module).patch())
            except Exception as error:  # a broken install: the other libraries still log
                _state.warn(f"{name} autolog: importing and patching {library}", error)

    def disable(self) -> None:
        """Stop logging and restore every patched method and function exactly."""
        self(disable=True)

    def __repr__(self) -> str:
        state = "off" if _state.options() is None else f"on, {len(_patches)} patches"
        return f"<kiln.autolog ({state})>"


def _unpatch() -> None:
    while _patches:
        _patches.pop().undo()


autolog = Autolog()


def disable() -> None:
    """Stop logging and restore every patched method and function exactly."""
    autolog.disable()


class _CallableModule(types.ModuleType):
    def __call__(self, **options: Any) -> None:
        autolog(**options)


def make_callable(module: str) -> None:
    """Let the module ``kiln.autolog`` be called like the object ``kiln.autolog``.

    ``import kiln.autolog`` binds the module to the attribute ``kiln.autolog``,
    where ``kiln``'s lazy export would put the :class:`Autolog` object; both
    then answer ``kiln.autolog(...)`` and ``kiln.autolog.disable()``.
    """
    sys.modules[module].__class__ = _CallableModule
