"""The source of a step and of the project code it calls, hashed for the cache key.

Starting from the step's function, every global name its code (and nested
code: comprehensions, inner functions) refers to is looked up in its module;
functions and classes that live in the user's project are followed, and
module-level constants (JSON-like values) are included by value. "The
project" is any module with a file outside the standard library and
site-packages, and outside Kiln itself; installed libraries are left out, as
their version is not the step's code. Sources are compared after parsing and
unparsing (``ast``), with decorators removed: comments and formatting do not
change a key, and neither do the ``@step`` options.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import os
import site
import sys
import sysconfig
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["source_digest"]

#: Upper bound on the functions and classes followed from one step.
MAX_OBJECTS = 500


def source_digest(fn: Any, memo: dict[Any, str] | None = None) -> str:
    """SHA-256 over the normalized source of ``fn`` and the project code it reaches."""
    memo = {} if memo is None else memo
    parts: dict[str, str] = {}
    queue: list[Any] = [fn]
    seen: set[int] = set()
    while queue and len(seen) < MAX_OBJECTS:
        obj = queue.pop(0)
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        parts[_label(obj)] = _normalized(obj, memo)
        if isinstance(obj, types.FunctionType):
            for name, value in _references(obj):
                target = _follow(value)
                if target is not None and _in_project(target):
                    queue.append(target)
                elif _is_constant(value) and _in_project(obj):
                    parts[f"{obj.__module__}.{name}"] = json.dumps(value, sort_keys=True)
    hasher = hashlib.sha256()
    for label in sorted(parts):
        hasher.update(f"{label}\n{parts[label]}\n\0".encode())
    return hasher.hexdigest()


def _label(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def _normalized(obj: Any, memo: dict[Any, str]) -> str:
    cached = memo.get(obj)
    if cached is not None:
        return cached
    try:
        text = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        text = _code_fingerprint(obj)
    else:
        try:
            tree = ast.parse(text)
        except SyntaxError:  # a lambda's line may not parse on its own
            pass
        else:
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    node.decorator_list = []
            text = ast.unparse(tree)
    memo[obj] = text
    return text


def _code_fingerprint(obj: Any) -> str:
    """For code without a source file (exec, a REPL): the bytecode and its constants."""
    code = getattr(obj, "__code__", None)
    if code is None:
        return repr(obj)
    return f"{code.co_code.hex()} {code.co_names!r} {_constants(code)!r}"


def _constants(code: types.CodeType) -> list[Any]:
    return [_constants(c) if isinstance(c, types.CodeType) else c for c in code.co_consts]


def _names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _names(constant)


def _references(fn: types.FunctionType) -> Iterator[tuple[str, Any]]:
    """(name, value) of the globals, module attributes and closure cells ``fn`` uses."""
    names = list(dict.fromkeys(_names(fn.__code__)))
    namespace = fn.__globals__
    for name in names:
        if name not in namespace:
            continue
        value = namespace[name]
        yield name, value
        if isinstance(value, types.ModuleType) and _in_project(value):
            for attribute in names:
                member = getattr(value, attribute, None)
                if member is not None:
                    yield f"{name}.{attribute}", member
    for cell in fn.__closure__ or ():
        try:
            yield "<closure>", cell.cell_contents
        except ValueError:  # an empty cell
            continue


def _follow(value: Any) -> Any:
    """The function or class to hash for a referenced value, or None."""
    from kiln.pipelines._step import Step

    if isinstance(value, Step):
        return value.fn
    if isinstance(value, types.FunctionType | type):
        return value
    return None


def _is_constant(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, tuple | list | frozenset):
        return len(value) <= 1000 and all(
            isinstance(v, bool | int | float | str | type(None)) for v in value
        )
    return False


def _in_project(obj: Any) -> bool:
    module_name = obj.__name__ if isinstance(obj, types.ModuleType) else obj.__module__
    if not isinstance(module_name, str):
        return False
    if module_name == "__main__":
        return True
    if module_name == "kiln" or module_name.startswith("kiln."):
        return False
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return False
    path = str(Path(file).resolve())
    return not any(path.startswith(root) for root in _library_roots())


@functools.cache
def _library_roots() -> tuple[str, ...]:
    """Folders of installed code: the standard library and every site-packages."""
    roots: set[str] = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    roots.update(site.getsitepackages())
    user = site.getusersitepackages()
    if isinstance(user, str):
        roots.add(user)
    return tuple(os.path.join(str(Path(root).resolve()), "") for root in roots)
