"""A router's rules: safe comparisons on request columns, run as NumPy masks.

A rule is data, never code. It is a comparison of one column with a
literal, or a combination of rules::

    {"column": "amount", "op": ">=", "value": 1000}
    "amount >= 1000"                         # the same, as text: <column> <op> <literal>
    "country in [FR, DE]"                    # ops: == != < <= > >= in, not in
    {"all": [rule, …]}  {"any": [rule, …]}  {"not": rule}

The literal of the text form is read by YAML's *safe* loader (a number,
true/false, a quoted or bare string, a ``[list]``), so nothing a spec holds
is ever evaluated. A rule is checked twice: its shape when the spec is read
(``parse_rule``), its column and value against the models' signatures once
they are loaded (``check_rule``), so a typo in a column name or a number
compared with a text column is refused before the server takes traffic.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np

__all__ = ["OPS", "AllOf", "AnyOf", "Compare", "Not", "Rule", "check_rule", "parse_rule"]

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ORDERING = ("<", "<=", ">", ">=")
#: Every operator a rule may use.
OPS = (*_COMPARE, "in", "not in")
_TEXT = re.compile(r"\s*(?P<column>\S+)\s+(?P<op>not\s+in|\S+)\s+(?P<value>.+?)\s*")
_SCALARS = (bool, int, float, str)


@dataclass(frozen=True, slots=True)
class Compare:
    """``column op value``; ``where`` is the spec path, for errors found after loading."""

    column: str
    op: str
    value: Any
    where: str = field(default="", compare=False)

    def mask(self, columns: Mapping[str, np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
        """One boolean per row (a missing value, NaN, matches no ordering or ``==``)."""
        import numpy as np

        values = columns[self.column]
        if self.op in ("in", "not in"):
            found = np.isin(values, list(self.value))
            return ~found if self.op == "not in" else found
        return np.asarray(_COMPARE[self.op](values, self.value), dtype=bool)

    def columns(self) -> set[str]:
        return {self.column}


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every rule holds."""

    rules: tuple[Rule, ...]

    def mask(self, columns: Mapping[str, np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
        import numpy as np

        mask: np.ndarray[Any, Any] = np.logical_and.reduce([r.mask(columns) for r in self.rules])
        return mask

    def columns(self) -> set[str]:
        return set().union(*(rule.columns() for rule in self.rules))


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one rule holds."""

    rules: tuple[Rule, ...]

    def mask(self, columns: Mapping[str, np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
        import numpy as np

        mask: np.ndarray[Any, Any] = np.logical_or.reduce([r.mask(columns) for r in self.rules])
        return mask

    def columns(self) -> set[str]:
        return set().union(*(rule.columns() for rule in self.rules))


@dataclass(frozen=True, slots=True)
class Not:
    """The rule does not hold."""

    rule: Rule

    def mask(self, columns: Mapping[str, np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
        return ~self.rule.mask(columns)

    def columns(self) -> set[str]:
        return self.rule.columns()


Rule = Compare | AllOf | AnyOf | Not


def parse_rule(value: Any, where: str) -> Rule:
    """A rule from a spec (a mapping or the text form); ``where`` is its spec path."""
    if isinstance(value, str):
        return _from_text(value, where)
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"{where} must be a rule: {{column, op, value}}, 'column op value', all, any or not",
            field=where,
        )
    for combined, cls in (("all", AllOf), ("any", AnyOf)):
        if combined in value:
            _only(value, (combined,), where)
            rules = value[combined]
            if not isinstance(rules, list) or not rules:
                raise InvalidInput(
                    f"{where}.{combined} must be a non-empty list of rules",
                    field=f"{where}.{combined}",
                )
            return cls(
                tuple(parse_rule(rule, f"{where}.{combined}[{i}]") for i, rule in enumerate(rules))
            )
    if "not" in value:
        _only(value, ("not",), where)
        return Not(parse_rule(value["not"], f"{where}.not"))
    _only(value, ("column", "op", "value"), where)
    for key in ("column", "op", "value"):
        if key not in value:
            raise InvalidInput(f"{where} has no {key!r}", field=f"{where}.{key}")
    return _compare(value["column"], value["op"], value["value"], where)


def _from_text(text: str, where: str) -> Rule:
    import yaml

    found = _TEXT.fullmatch(text)
    if found is None:
        raise InvalidInput(
            f"{where}: cannot read the rule {text!r}; write '<column> <op> <value>' with "
            f"spaces around the op, e.g. 'amount >= 1000'",
            field=where,
        )
    op = " ".join(found["op"].split())
    try:
        literal = yaml.safe_load(found["value"])
    except yaml.YAMLError:
        raise InvalidInput(
            f"{where}: cannot read the value {found['value']!r} of {text!r}",
            field=f"{where}.value",
        ) from None
    return _compare(found["column"], op, literal, where)


def _compare(column: Any, op: Any, value: Any, where: str) -> Compare:
    if not isinstance(column, str) or not column:
        raise InvalidInput(f"{where}.column must be a column name", field=f"{where}.column")
    if op not in OPS:
        raise InvalidInput(
            f"{where}.op must be one of {', '.join(OPS)}, got {op!r}", field=f"{where}.op"
        )
    if op in ("in", "not in"):
        if not isinstance(value, list) or not value:
            raise InvalidInput(
                f"{where}.value must be a non-empty list for {op!r}", field=f"{where}.value"
            )
        for item in value:
            _scalar(item, where)
        return Compare(column, op, tuple(value), where)
    _scalar(value, where)
    return Compare(column, op, value, where)


def _scalar(value: Any, where: str) -> None:
    if not isinstance(value, _SCALARS):
        raise InvalidInput(
            f"{where}.value must be a number, text or true/false, got {value!r}",
            field=f"{where}.value",
        )


def _only(value: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    extra = sorted(str(key) for key in value if key not in keys)
    if extra:
        raise InvalidInput(
            f"{where} has the unexpected key {extra[0]!r}; it takes {', '.join(keys)}",
            field=f"{where}.{extra[0]}",
        )


def check_rule(rule: Rule, dtypes: Mapping[str, str]) -> None:
    """Refuse a rule on a column no model takes, or a value of the wrong kind for its column.

    ``dtypes`` maps the graph's input columns to their signature dtypes.
    """
    if isinstance(rule, AllOf | AnyOf):
        for inner in rule.rules:
            check_rule(inner, dtypes)
        return
    if isinstance(rule, Not):
        check_rule(rule.rule, dtypes)
        return
    where = rule.where
    dtype = dtypes.get(rule.column)
    if dtype is None:
        raise InvalidInput(
            f"{where}: no model of this router takes the column {rule.column!r}; a rule may "
            f"test {', '.join(dtypes)}",
            field=f"{where}.column",
        )
    kind = _kind(dtype)
    if rule.op in _ORDERING and kind != "number":
        raise InvalidInput(
            f"{where}: {rule.op!r} compares numbers and {rule.column!r} is {dtype}; use == or in",
            field=f"{where}.op",
        )
    values = rule.value if isinstance(rule.value, tuple) else (rule.value,)
    for value in values:
        if _kind_of(value) != kind and kind != "any":
            raise InvalidInput(
                f"{where}: {rule.column!r} is {dtype}, so it cannot be compared with {value!r}",
                field=f"{where}.value",
            )


def _kind(dtype: str) -> str:
    if dtype in ("string", "category"):
        return "text"
    if dtype == "bool":
        return "bool"
    if dtype.startswith(("int", "uint", "float")):
        return "number"
    return "any"


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "text"
