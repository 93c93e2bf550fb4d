"""``Predictor``: the one interface every loaded model has, whatever its flavor."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.models._flavor import ModelFunctions
    from kiln.models._manifest import Manifest
    from kiln.models._signature import Signature

__all__ = ["Predictor"]


class Predictor:
    """A loaded model behind a uniform ``predict`` (and ``predict_proba`` when it has one).

    Inputs go through the signature first (see
    :meth:`~kiln.models.Signature.enforce`): columns are checked, cast and
    put in order, extra columns dropped; a bad input raises
    :class:`~kiln.errors.InvalidInput` naming the column. Without a
    signature, inputs pass through unchanged.

    ``hasattr(predictor, "predict_proba")`` says whether the model has
    probabilities. ``native`` is the flavor's own object.
    """

    __slots__ = ("_functions", "manifest", "native")

    def __init__(self, native: Any, functions: ModelFunctions, manifest: Manifest) -> None:
        self.native = native
        self.manifest = manifest
        self._functions = functions

    @property
    def signature(self) -> Signature | None:
        return self.manifest.signature

    @property
    def flavor(self) -> str:
        return self.manifest.flavor

    def predict(self, data: Any) -> Any:
        """The model's predictions for ``data`` (a DataFrame, an ndarray or a dict of columns)."""
        return self._functions.predict(self._prepare(data))

    @property
    def predict_proba(self) -> Callable[[Any], Any]:
        """Class probabilities, one row per input row; absent when the model has none."""
        proba = self._functions.predict_proba
        if proba is None:
            raise AttributeError(
                f"this {self.manifest.flavor} model has no predict_proba; use predict"
            )

        def predict_proba(data: Any) -> Any:
            return proba(self._prepare(data))

        return predict_proba

    def _prepare(self, data: Any) -> Any:
        signature = self.manifest.signature
        return data if signature is None else signature.enforce(data)

    def __repr__(self) -> str:
        names = "" if self.signature is None else ", ".join(self.signature.input_names[:5])
        more = "" if self.signature is None or len(self.signature.inputs) <= 5 else ", ..."
        return f"<Predictor flavor={self.flavor!r} inputs=[{names}{more}]>"
