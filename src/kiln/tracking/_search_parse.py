"""The search language's lexer and parser: filter text → a small, typed AST.

Everything a user can get wrong is caught here, so the error names the token
and its position (characters counted from 0). ``kiln.tracking._search_sql``
turns the AST into SQL; ``kiln.tracking._search`` documents the language.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, cast

from kiln.errors import InvalidInput

Kind: TypeAlias = Literal["attribute", "param", "metric", "tag", "dataset"]
#: How a field's values compare: text, numbers, ids (numbers given as either),
#: or times (milliseconds compared against a datetime column).
FieldType: TypeAlias = Literal["string", "number", "id", "time"]
Value: TypeAlias = str | int | float

STRING_OPERATORS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
NUMBER_OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN")
_SYMBOLS = {"=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE"})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_NUMBER_START = re.compile(r"[-+]?\.?[0-9]")
_NUMBER_TAIL = re.compile(r"[\w.]*")
_OPERATOR = re.compile(r"[=!<>]+")
_QUOTES = "'\"`"
#: Limits that keep one request from building a query the database chokes on.
MAX_DEPTH = 50
MAX_COMPARISONS = 200
MAX_VALUES = 5_000
_SHOWN = 200


@dataclass(frozen=True, slots=True)
class Identifier:
    """What a comparison or sort is about, e.g. ``Identifier("metric", "train/loss")``."""

    kind: Kind
    key: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """``identifier operator value``; ``value`` is a tuple for ``IN`` and ``NOT IN``."""

    identifier: Identifier
    operator: str
    value: Value | tuple[Value, ...]
    #: Where the comparison starts in the filter text (not part of equality).
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


Node: TypeAlias = Comparison | And | Or


@dataclass(frozen=True, slots=True)
class OrderTerm:
    identifier: Identifier
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Schema:
    """The identifiers one search accepts (runs and experiments differ)."""

    noun: str
    #: ``"params"`` → ``"param"``; ``"attributes"`` must map to ``"attribute"``.
    prefixes: Mapping[str, Kind]
    #: Attribute name or alias (lower case) → (canonical name, type).
    attributes: Mapping[str, tuple[str, FieldType]]
    dataset_fields: frozenset[str] = frozenset()

    def field_type(self, identifier: Identifier) -> FieldType:
        if identifier.kind == "attribute":
            return self.attributes[identifier.key][1]
        return "number" if identifier.kind == "metric" else "string"


_ATTRIBUTE_PREFIXES: dict[str, Kind] = {
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
}
_TAG_PREFIXES: dict[str, Kind] = {"tags": "tag", "tag": "tag"}

RUNS = Schema(
    noun="run",
    prefixes={
        **_ATTRIBUTE_PREFIXES,
        **_TAG_PREFIXES,
        "params": "param",
        "param": "param",
        "metrics": "metric",
        "metric": "metric",
        "datasets": "dataset",
        "dataset": "dataset",
    },
    attributes={
        "run_id": ("run_id", "string"),
        "id": ("run_id", "string"),
        "run_name": ("run_name", "string"),
        "name": ("run_name", "string"),
        "status": ("status", "string"),
        "user": ("user", "string"),
        "user_id": ("user", "string"),
        "lifecycle_stage": ("lifecycle_stage", "string"),
        "parent_run_id": ("parent_run_id", "string"),
        "experiment_id": ("experiment_id", "id"),
        "start_time": ("start_time", "number"),
        "created": ("start_time", "number"),
        "end_time": ("end_time", "number"),
    },
    dataset_fields=frozenset({"name", "digest", "context"}),
)

EXPERIMENTS = Schema(
    noun="experiment",
    prefixes={**_ATTRIBUTE_PREFIXES, **_TAG_PREFIXES},
    attributes={
        "name": ("name", "string"),
        "experiment_id": ("experiment_id", "id"),
        "id": ("experiment_id", "id"),
        "lifecycle_stage": ("lifecycle_stage", "string"),
        "creation_time": ("creation_time", "time"),
        "last_update_time": ("last_update_time", "time"),
    },
)


@dataclass(frozen=True, slots=True)
class _Token:
    #: ident, keyword, string, number, op, quoted, "(", ")", ",", end
    kind: str
    text: str
    position: int
    value: object = None


class _Source:
    """The text being parsed, and the one way errors about it are worded."""

    def __init__(self, text: str, field: str, what: str) -> None:
        self.text = text
        self.field = field
        self.what = what

    def error(self, message: str, position: int, hint: str = "") -> InvalidInput:
        shown = self.text
        if len(shown) > _SHOWN:
            start = max(0, min(position - _SHOWN // 2, len(shown) - _SHOWN))
            shown = ("…" if start else "") + shown[start : start + _SHOWN] + "…"
        text = f"{message} at position {position} in {self.what} {shown!r}"
        return InvalidInput(f"{text}; {hint}" if hint else text, field=self.field)

    def unexpected(self, token: _Token, expected: str) -> InvalidInput:
        shown = f"end of {self.what}" if token.kind == "end" else repr(token.text)
        return self.error(f"unexpected {shown}", token.position, f"expected {expected}")


def _tokens(source: _Source) -> list[_Token]:
    text, i, out = source.text, 0, []
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "(),":
            out.append(_Token(char, char, i))
            i += 1
        elif char in _QUOTES:
            end, value = _quoted(source, i)
            out.append(_Token("quoted" if char == "`" else "string", text[i:end], i, value))
            i = end
        elif _NUMBER_START.match(text, i):
            match = _NUMBER.match(text, i)
            assert match is not None  # _NUMBER_START guarantees a digit
            end = match.end()
            if end < len(text) and (text[end].isalnum() or text[end] in "_."):
                tail = _NUMBER_TAIL.match(text, end)
                bad = text[i : tail.end() if tail else end]
                raise source.error(f"malformed number {bad!r}", i)
            literal = match.group()
            number: int | float = (
                float(literal) if any(c in literal for c in ".eE") else int(literal)
            )
            out.append(_Token("number", literal, i, number))
            i = end
        elif (match := _WORD.match(text, i)) is not None:
            word, end = match.group(), match.end()
            if word.upper() in _KEYWORDS:
                out.append(_Token("keyword", word, i, word.upper()))
            elif word.endswith(".") and end < len(text) and text[end] in _QUOTES:
                end, key = _quoted(source, end)
                out.append(_Token("ident", text[i:end], i, (word[:-1], key)))
            else:
                prefix, dot, key = word.partition(".")
                out.append(_Token("ident", word, i, (prefix, key) if dot else (None, word)))
            i = end
        elif (match := _OPERATOR.match(text, i)) is not None:
            symbol = match.group()
            if symbol not in _SYMBOLS:
                raise source.error(
                    f"unknown operator {symbol!r}",
                    i,
                    "use one of =, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN",
                )
            out.append(_Token("op", symbol, i, _SYMBOLS[symbol]))
            i = match.end()
        else:
            raise source.error(f"unexpected character {char!r}", i)
    out.append(_Token("end", "", len(text)))
    return out


def _quoted(source: _Source, start: int) -> tuple[int, str]:
    """End and content of the quoted text at ``start``; a doubled quote is one quote."""
    text, quote = source.text, source.text[start]
    parts, i = [], start + 1
    while True:
        end = text.find(quote, i)
        if end < 0:
            raise source.error(
                f"unterminated {'key' if quote == '`' else 'string'} {text[start : start + 20]!r}",
                start,
                f"close it with {quote}",
            )
        parts.append(text[i:end])
        if text.startswith(quote, end + 1):
            parts.append(quote)
            i = end + 2
            continue
        return end + 1, "".join(parts)


class _Parser:
    def __init__(self, source: _Source, schema: Schema) -> None:
        self.source = source
        self.schema = schema
        self.tokens = _tokens(source)
        self.index = 0
        self.comparisons = 0
        self.values = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def keyword(self, *words: str) -> bool:
        return self.token.kind == "keyword" and self.token.value in words

    def parse(self) -> Node:
        node = self.disjunction(0)
        if self.token.kind != "end":
            expected = "AND, OR or the end of the filter"
            if self.token.kind == ")":
                expected += " (this ')' closes no '(')"
            raise self.source.unexpected(self.token, expected)
        return node

    def disjunction(self, depth: int) -> Node:
        operands = [self.conjunction(depth)]
        while self.keyword("OR"):
            self.advance()
            operands.append(self.conjunction(depth))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self, depth: int) -> Node:
        operands = [self.primary(depth)]
        while self.keyword("AND"):
            self.advance()
            operands.append(self.primary(depth))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def primary(self, depth: int) -> Node:
        if self.token.kind != "(":
            return self.comparison()
        opening = self.advance()
        if depth + 1 > MAX_DEPTH:
            raise self.source.error(
                f"parentheses nest deeper than {MAX_DEPTH}", opening.position, "simplify the filter"
            )
        node = self.disjunction(depth + 1)
        if self.token.kind != ")":
            raise self.source.unexpected(
                self.token,
                f"AND, OR or ')' to close the '(' at position {opening.position}",
            )
        self.advance()
        return node

    def comparison(self) -> Comparison:
        start = self.token
        identifier = self.identifier(f"a comparison such as {self.example()}")
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.source.error(
                f"more than {MAX_COMPARISONS} comparisons", start.position, "simplify the filter"
            )
        operator_token = self.token
        operator = self.operator()
        self.check_operator(identifier, operator, operator_token)
        if operator in ("IN", "NOT IN"):
            value: Value | tuple[Value, ...] = self.value_list(identifier, operator)
        else:
            value = self.value(identifier)
        return Comparison(identifier, operator, value, start.position)

    def example(self) -> str:
        return "metrics.accuracy > 0.9" if self.schema is RUNS else "name LIKE 'fraud%'"

    def identifier(self, expected: str) -> Identifier:
        token = self.token
        if token.kind != "ident":
            raise self.source.unexpected(token, expected)
        self.advance()
        prefix, key = cast(tuple[str | None, str], token.value)
        schema, at = self.schema, token.position
        if prefix is not None and prefix.lower() not in schema.prefixes:
            raise self.source.error(
                f"unknown identifier prefix {prefix!r} in {token.text!r}",
                at,
                f"{schema.noun} searches know {', '.join(sorted(schema.prefixes))}",
            )
        kind: Kind = "attribute" if prefix is None else schema.prefixes[prefix.lower()]
        if not key:
            raise self.source.error(
                f"missing key after {token.text!r}",
                at,
                "write e.g. metrics.accuracy or metrics.`train/loss`",
            )
        if kind in ("attribute", "dataset"):
            key = key.lower()
            known = schema.attributes if kind == "attribute" else schema.dataset_fields
            what = "attribute" if kind == "attribute" else "dataset field"
            if key in known:
                pass
            elif prefix is None:
                raise self.source.error(
                    f"unknown identifier {token.text!r}",
                    at,
                    f"name an attribute ({', '.join(sorted(known))}) or prefix a key with one "
                    f"of {', '.join(sorted(schema.prefixes))} (e.g. {self.example().split()[0]})",
                )
            else:
                raise self.source.error(
                    f"unknown {what} {key!r} in {token.text!r}",
                    at,
                    f"{schema.noun} {what}s are {', '.join(sorted(known))}",
                )
        if kind == "attribute":
            key = schema.attributes[key][0]
        return Identifier(kind, key)

    def operator(self) -> str:
        token = self.advance()
        if token.kind == "op":
            return str(token.value)
        if token.kind == "keyword" and token.value in ("LIKE", "ILIKE", "IN"):
            return str(token.value)
        if token.kind == "keyword" and token.value == "NOT":
            if self.keyword("IN"):
                self.advance()
                return "NOT IN"
            raise self.source.unexpected(self.token, "IN after NOT")
        raise self.source.unexpected(
            token, "an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN)"
        )

    def value(self, identifier: Identifier) -> Value:
        token = self.token
        if token.kind not in ("string", "number"):
            hint = "a value"
            if token.kind == "ident":
                hint += f" (quote text: '{token.text}')"
            raise self.source.unexpected(token, hint)
        self.advance()
        self.values += 1
        if self.values > MAX_VALUES:
            raise self.source.error(
                f"more than {MAX_VALUES} values", token.position, "search in several requests"
            )
        return self.typed(identifier, token)

    def value_list(self, identifier: Identifier, operator: str) -> tuple[Value, ...]:
        if self.token.kind != "(":
            raise self.source.unexpected(self.token, f"'(' and a list of values after {operator}")
        self.advance()
        values = [self.value(identifier)]
        while self.token.kind == ",":
            self.advance()
            values.append(self.value(identifier))
        if self.token.kind != ")":
            raise self.source.unexpected(self.token, "',' or ')' in the list of values")
        self.advance()
        return tuple(values)

    def describe(self, identifier: Identifier) -> str:
        return f"{identifier.kind.replace('dataset', 'dataset field')} {identifier.key!r}"

    def typed(self, identifier: Identifier, token: _Token) -> Value:
        kind, value, at = self.schema.field_type(identifier), token.value, token.position
        assert isinstance(value, str | int | float)
        what = self.describe(identifier)
        if kind == "string" and not isinstance(value, str):
            hint = f"{what} holds text: quote the value ('{token.text}')"
            raise self.source.error(f"{what} is compared with the number {token.text}", at, hint)
        if kind in ("number", "time") and isinstance(value, str):
            hint = f"{what} is numeric: compare it with a number, without quotes"
            raise self.source.error(f"{what} is compared with the string {token.text}", at, hint)
        if kind != "id":
            return value
        if isinstance(value, float) or (
            isinstance(value, str) and not (value.isascii() and value.isdigit())
        ):
            hint = f"{identifier.key} values are whole numbers such as 3 or '3'"
            raise self.source.error(f"{token.text} is not an id", at, hint)
        return int(value)

    def check_operator(self, identifier: Identifier, operator: str, token: _Token) -> None:
        kind = self.schema.field_type(identifier)
        allowed = STRING_OPERATORS if kind == "string" else NUMBER_OPERATORS
        if operator in allowed:
            return
        what = self.describe(identifier)
        hint = f"{what} is {'text' if kind == 'string' else 'numeric'}: use {', '.join(allowed)}"
        if identifier.kind in ("param", "tag"):
            hint = f"{identifier.kind}s are strings: use {', '.join(allowed)}"
            hint += " (log a number as a metric to compare it numerically)"
        raise self.source.error(
            f"operator {token.text!r} cannot compare {what}", token.position, hint
        )


def parse_filter(text: str, schema: Schema = RUNS) -> Node | None:
    """The AST of a filter string; ``None`` for an empty or blank filter.

    Raises ``InvalidInput`` (``field="filter"``) naming the offending token and
    its position.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"filter must be a string, got {text!r}", field="filter")
    if not text.strip():
        return None
    return _Parser(_Source(text, "filter", "filter"), schema).parse()


def parse_order_by(terms: Sequence[str], schema: Schema = RUNS) -> tuple[OrderTerm, ...]:
    """``["metrics.auc DESC", "params.lr"]`` → order terms (ascending unless DESC)."""
    if isinstance(terms, str):
        raise InvalidInput(
            f"order_by must be a list of strings, got the string {terms!r}", field="order_by"
        )
    out = []
    for term in terms:
        if not isinstance(term, str):
            raise InvalidInput(f"order_by entries must be strings, got {term!r}", field="order_by")
        parser = _Parser(_Source(term, "order_by", "order_by entry"), schema)
        identifier = parser.identifier("an identifier such as metrics.accuracy")
        if identifier.kind == "dataset":
            raise parser.source.error(
                f"cannot order by {term.strip()!r}",
                0,
                "a run may have several datasets; order by attributes, params, metrics or tags",
            )
        descending = False
        token = parser.token
        if token.kind == "ident" and token.text.upper() in ("ASC", "DESC"):
            descending = token.text.upper() == "DESC"
            parser.advance()
        if parser.token.kind != "end":
            raise parser.source.unexpected(parser.token, "ASC, DESC or the end of the entry")
        out.append(OrderTerm(identifier, descending))
    return tuple(out)
