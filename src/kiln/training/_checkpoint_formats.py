"""How a checkpoint's object becomes blobs and back: PyTorch, the pipelines' formats, pickle.

A format is a :class:`~kiln.pipelines.Materializer`; the row records its
name, so loading reads the object the way it was written. Formats are tried
in this order, and the first that handles the object writes it:

- ``torch``: tensors, and dicts, lists, tuples and sets of tensors and plain
  values (state dicts, ``{"model": ..., "optimizer": ..., "epoch": 3}``),
  written with ``torch.save`` and read with ``torch.load(weights_only=True)``,
  which rebuilds tensors and plain values only and runs no code;
- the pipelines' materializers: pandas, polars, Arrow, NumPy, JSON values,
  models a Kiln flavor saves, and any installed through entry points;
- ``pickle``, only when the caller opts in, for saving and again for
  loading, because unpickling runs code named in the bytes.

Nothing here imports PyTorch before an object holds a tensor or a row says
``torch``.
"""

from __future__ import annotations

import pickle
import sys
import tempfile
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, cast

from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.pipelines import Materializer, Materializers

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kiln.artifacts import ArtifactStore

__all__ = [
    "TRAINING_FORMATS",
    "PickleFormat",
    "TorchFormat",
    "checkpoint_formats",
    "choose_format",
]

#: The formats checkpoints add to the pipelines' materializers: torch first, pickle last.
TRAINING_FORMATS: dict[str, str] = {
    "torch": "kiln.training._checkpoint_formats:TorchFormat",
    "pickle": "kiln.training._checkpoint_formats:PickleFormat",
}

_MAX_DEPTH = 100
_PLAIN = (type(None), bool, int, float, complex, str, bytes)
_CONTAINERS = (dict, OrderedDict, list, tuple, set)


def checkpoint_formats(materializers: Materializers | None = None) -> Materializers:
    """The format table of checkpoints: torch, then ``materializers``' table, then pickle.

    ``materializers`` defaults to the installed pipelines' table; ``kiln gc``
    passes its own, so checkpoints and step outputs are followed alike.
    """
    base = materializers if materializers is not None else Materializers.discover()
    middle = {name: target for name, target in base.table.items() if name not in TRAINING_FORMATS}
    return Materializers(
        {"torch": TRAINING_FORMATS["torch"], **middle, "pickle": TRAINING_FORMATS["pickle"]}
    )


def choose_format(
    formats: Materializers, obj: object, format: str | None, *, allow_pickle: bool
) -> Materializer:
    """The format to write ``obj`` in: ``format`` when named, else the first that handles it."""
    kind = _kind(obj)
    if format is not None:
        if format == "pickle" and not allow_pickle:
            raise InvalidInput(_PICKLE_OPT_IN, field="allow_pickle")
        try:
            chosen = formats.get(format)
        except NotFound:
            known = ", ".join(formats.names())
            raise InvalidInput(
                f"unknown checkpoint format {format!r}; known: {known}", field="format"
            ) from None
        fits = chosen.accepts(obj) if isinstance(chosen, TorchFormat) else chosen.handles(obj)
        if not fits:
            raise InvalidInput(
                f"the {format} format cannot store an object of type {kind}", field="format"
            )
        return chosen
    for name in formats.names():
        if name != "pickle" and formats.get(name).handles(obj):
            return formats.get(name)
    if allow_pickle:
        return formats.get("pickle")
    raise InvalidInput(_refusal(obj, kind), field="obj")


class TorchFormat(Materializer):
    """Tensors and containers of tensors and plain values, through ``torch.save``."""

    name = "torch"
    version = "1"

    def handles(self, obj: object) -> bool:
        if "torch" not in sys.modules:
            return False  # no tensor can exist
        has_tensor, unsafe = _walk(obj)
        return has_tensor and unsafe is None

    def accepts(self, obj: object) -> bool:
        """Whether ``obj`` is safe to load back, tensors or not (``format="torch"``)."""
        return _walk(obj)[1] is None

    def save(self, obj: Any, store: ArtifactStore) -> str:
        import torch

        with tempfile.TemporaryFile(prefix="kiln-checkpoint-") as scratch:
            torch.save(obj, scratch)
            scratch.seek(0)
            return store.put_stream(scratch).digest

    def load(self, store: ArtifactStore, digest: str, *, map_location: Any = None) -> Any:
        import torch

        with tempfile.TemporaryFile(prefix="kiln-checkpoint-") as scratch:
            with store.open(digest) as source:  # a seekable local copy, whatever the backend
                while chunk := source.read(store.chunk_size):
                    scratch.write(chunk)
            scratch.seek(0)
            try:
                return torch.load(scratch, map_location=map_location, weights_only=True)
            except pickle.UnpicklingError as error:
                lines = str(error).splitlines() or [""]
                why = next((line for line in lines if "WeightsUnpickler" in line), lines[0])
                raise Conflict(
                    f"checkpoint blob {digest} holds more than tensors and plain values, so it "
                    f"is not loaded (torch.load with weights_only=True refused it: "
                    f"{why.strip()})"
                ) from None


class PickleFormat(Materializer):
    """Any picklable object; reading it back needs ``allow_pickle=True``."""

    name = "pickle"
    version = "1"

    def handles(self, obj: object) -> bool:
        return True

    def save(self, obj: Any, store: ArtifactStore) -> str:
        with tempfile.TemporaryFile(prefix="kiln-checkpoint-") as scratch:
            try:
                pickle.dump(obj, scratch, protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError) as error:
                raise InvalidInput(
                    f"cannot pickle the object of type {_kind(obj)} ({error}); save its "
                    "state instead (plain values, arrays or tensors)",
                    field="obj",
                ) from None
            scratch.seek(0)
            return store.put_stream(scratch).digest

    def load(self, store: ArtifactStore, digest: str, *, allow_pickle: bool = False) -> Any:
        if not allow_pickle:
            raise InvalidInput(
                "this checkpoint was saved with pickle, and unpickling runs code named in "
                "its bytes: pass allow_pickle=True if you trust whoever saved it",
                field="allow_pickle",
            )
        with store.open(digest) as source:
            return pickle.load(source)


_PICKLE_OPT_IN = (
    "format='pickle' needs allow_pickle=True: loading a pickle runs code named in its "
    "bytes, so opt in only for checkpoints you will load yourself"
)


def _refusal(obj: object, kind: str) -> str:
    reason = ""
    if "torch" in sys.modules:
        has_tensor, unsafe = _walk(obj)
        if has_tensor and unsafe is not None:
            reason = (
                f" It holds tensors, but the object{unsafe}, which "
                "torch.load(weights_only=True) cannot read back; turn it into a tensor, a list "
                "or a plain value (a module or an optimizer: its state_dict())."
            )
    return (
        f"kiln.checkpoint cannot safely store an object of type {kind}.{reason} Supported: "
        "tensors and dicts, lists and tuples of tensors and plain values (state dicts), "
        "pandas or polars DataFrames, Arrow tables, NumPy arrays, JSON values, and models a "
        "Kiln flavor saves. Pass allow_pickle=True to store anything else with pickle "
        "(loading it runs code, so it needs allow_pickle=True too)."
    )


def _walk(obj: object, depth: int = 0) -> tuple[bool, str | None]:
    """``(holds a tensor, where the first part torch cannot load safely is, or None)``.

    The place is a suffix of "the object" (``"['rng'][1] is a numpy.ndarray"``),
    built only when there is one, so a long list of floats costs no strings.
    """
    torch = sys.modules.get("torch")
    cls = type(obj)
    if cls in _PLAIN:
        return False, None
    if torch is not None:
        if cls in (torch.Tensor, torch.nn.Parameter):
            return True, None
        if cls in (torch.Size, torch.dtype, torch.device):
            return False, None
    if cls not in _CONTAINERS:
        return False, f" is a {_kind(obj)}"
    if depth >= _MAX_DEPTH:
        return False, f" is nested more than {_MAX_DEPTH} levels deep"
    has_tensor = False
    first: str | None = None
    if isinstance(obj, dict):
        for key, value in obj.items():
            _, bad_key = _walk(key, depth + 1)
            found, unsafe = _walk(value, depth + 1)
            has_tensor = has_tensor or found
            if first is None and bad_key is not None:
                first = f" has a key {key!r} that{bad_key}"
            elif first is None and unsafe is not None:
                first = f"[{key!r}]{unsafe}"
            if first is not None and has_tensor:
                break
    else:
        for index, value in enumerate(cast("Iterable[object]", obj)):
            found, unsafe = _walk(value, depth + 1)
            has_tensor = has_tensor or found
            if first is None and unsafe is not None:
                first = f"[{index}]{unsafe}"
            if first is not None and has_tensor:
                break
    return has_tensor, first


def _kind(obj: object) -> str:
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
