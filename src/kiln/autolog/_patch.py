"""Replacing methods and functions, and putting the originals back exactly.

A patch records what the owner (a class or a module) held in its own
``__dict__`` before: restoring sets that object back, or deletes the
attribute when it was inherited. Methods are wrapped with
``functools.wraps``, so ``inspect.signature`` (which scikit-learn's metadata
routing reads) still sees the original parameters. Descriptors such as
scikit-learn's ``available_if`` keep deciding whether the method exists.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["MethodCall", "Patch", "patch_function", "patch_methods", "subclasses"]

#: ``call(obj, bound_original, args, kwargs)``: what a patched method does instead.
MethodCall = Callable[[Any, Callable[..., Any], tuple[Any, ...], dict[str, Any]], Any]
_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Patch:
    """``owner.name`` was replaced; ``original`` is what ``owner.__dict__`` held (or nothing)."""

    owner: Any
    name: str
    original: Any

    def undo(self) -> None:
        if self.original is _MISSING:
            delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, self.original)


def patch_methods(targets: Iterable[tuple[type, str]], call: MethodCall) -> list[Patch]:
    """Route each ``cls.name`` through ``call``; methods a class inherits are patched on it too.

    Every original is looked up before anything is replaced, so a subclass
    never wraps its parent's wrapper.
    """
    found: list[tuple[type, str, Any]] = []
    for cls, name in targets:
        attribute = inspect.getattr_static(cls, name, _MISSING)
        if isinstance(attribute, types.FunctionType):
            found.append((cls, name, _wrap_function(attribute, call)))
        elif hasattr(type(attribute), "__get__") and not isinstance(
            attribute, staticmethod | classmethod
        ):
            found.append((cls, name, _Descriptor(attribute, call)))
    patches = []
    for cls, name, replacement in found:
        patches.append(Patch(cls, name, cls.__dict__.get(name, _MISSING)))
        setattr(cls, name, replacement)
    return patches


def patch_function(module: types.ModuleType, name: str, make: Callable[[Any], Any]) -> Patch:
    """Replace ``module.name`` by ``make(original)``."""
    original = vars(module)[name]
    patch = Patch(module, name, original)
    setattr(module, name, make(original))
    return patch


def subclasses(cls: type) -> list[type]:
    """Every class deriving from ``cls`` that has been defined so far."""
    found: list[type] = []
    direct: list[type] = cls.__subclasses__()
    for sub in direct:
        found += [sub, *subclasses(sub)]
    return found


def _wrap_function(function: Callable[..., Any], call: MethodCall) -> Callable[..., Any]:
    @functools.wraps(function)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return call(self, types.MethodType(function, self), args, kwargs)

    return method


class _Descriptor:
    """Wraps a descriptor (``available_if``, ``property``) returning a method."""

    def __init__(self, descriptor: Any, call: MethodCall) -> None:
        self.descriptor = descriptor
        self.call = call
        self.__doc__ = getattr(descriptor, "__doc__", None)

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        bound = self.descriptor.__get__(obj, owner)  # AttributeError: "not available"
        if obj is None:
            return bound

        @functools.wraps(bound)
        def method(*args: Any, **kwargs: Any) -> Any:
            return self.call(obj, bound, args, kwargs)

        return method
