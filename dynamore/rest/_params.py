"""Query strings of list requests -> the arguments of :meth:`DynamoDbProxy.query`.

``attr=value`` is equality and ``attr[op]=value`` an operator, ``op`` one of :data:`OPS`; each
value is read by the type the schema gives the attribute (``age=18`` is the number 18, and
``name=18`` the string ``"18"``). ``index``, ``limit`` (1..1000, default
:data:`DEFAULT_LIMIT`) and ``cursor`` are not attributes. A :class:`QueryParser` is built once
per entity type, so a request only looks its parameters up.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Callable, NamedTuple, Optional

from dynamore._query import MAX_LIMIT
from dynamore.exceptions import ValidationError

__all__ = ["DEFAULT_LIMIT", "OPS", "RESERVED", "ListQuery", "QueryParser", "value_types"]

#: Page size when a request gives no ``limit``.
DEFAULT_LIMIT = 25
#: URL operator -> ``where`` operator.
OPS = {
    "eq": "=",
    "ne": "<>",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "begins_with": "begins_with",
    "contains": "contains",
}
#: Query parameters that are not attribute filters.
RESERVED = ("limit", "cursor", "index")

_NAME = re.compile(r"([^\[\]]+)(?:\[([a-z_]+)\])?\Z")
_INTEGER = re.compile(r"[-+]?[0-9]+\Z")
Parse = Callable[[str], Any]


class ListQuery(NamedTuple):
    """The keyword arguments of one :meth:`DynamoDbProxy.query` call."""

    where: Optional[dict[str, Any]]
    index_name: Optional[str]  # not "index": that is a tuple's method
    limit: int
    cursor: Optional[str]


def value_types(schema: Any) -> list[str]:
    """The JSON types a property schema allows (``uuid4`` read as ``string``); empty when it
    says no ``type``."""
    if not isinstance(schema, Mapping):
        return []
    kind = schema.get("type")
    names = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    return list(dict.fromkeys("string" if n == "uuid4" else n for n in names))


def _number(text: str) -> Any:
    if _INTEGER.match(text):
        return int(text)
    value = float(text)  # ValueError for what is no number
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _boolean(text: str) -> bool:
    if text in ("true", "false"):
        return text == "true"
    raise ValueError(text)


def _null(text: str) -> None:
    if text != "null":
        raise ValueError(text)


def _integer(text: str) -> int:
    if not _INTEGER.match(text):
        raise ValueError(text)
    return int(text)


def _json(text: str) -> Any:
    return json.loads(text, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value DynamoDB can hold")


_BY_TYPE: dict[str, Parse] = {
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "null": _null,
    "array": _json,
    "object": _json,
}


def text_parser(schema: Any) -> Parse:
    """A function reading a query-string value as the type(s) ``schema`` allows: the first
    non-string type that reads it, else the text itself if strings are allowed (or no type
    is given, where JSON is tried first)."""
    types = value_types(schema)
    if types == ["string"]:
        return str
    readers = [_BY_TYPE[t] for t in types if t in _BY_TYPE]
    text_ok = not types or "string" in types
    if not types:
        readers = [_json]

    def parse(text: str) -> Any:
        for read in readers:
            try:
                return read(text)
            except ValueError:
                continue
        if text_ok:
            return text
        raise ValueError(f"{text!r} is not {' or '.join(types)}")

    return parse


class QueryParser:
    """Reads the query string of a list request for one entity type."""

    def __init__(self, properties: Mapping[str, Any], indexes: Any) -> None:
        self._values: dict[str, Parse] = {}
        self._elements: dict[str, Parse] = {}
        for name, schema in properties.items():
            self._values[name] = text_parser(schema)
            items = schema.get("items") if isinstance(schema, Mapping) else None
            self._elements[name] = text_parser(items) if isinstance(items, Mapping) else str
        self._indexes = frozenset(indexes)

    def parse(self, query: Mapping[str, list[str]]) -> ListQuery:
        """The query ``query`` asks for; ValidationError (a 400) naming the parameter."""
        where: dict[str, dict[str, Any]] = {}
        for name, values in query.items():
            if name in RESERVED:
                if len(values) != 1:
                    raise ValidationError(name, "may be given once")
                continue
            match = _NAME.match(name)
            if match is None:
                raise ValidationError(name, "is not attr or attr[op]")
            attribute, op = match.group(1), match.group(2) or "eq"
            if attribute not in self._values:
                raise ValidationError(attribute, "is not a property of the entity's schema")
            if op not in OPS:
                raise ValidationError(name, f"unknown operator {op!r}; use one of {list(OPS)}")
            if len(values) != 1:
                raise ValidationError(name, "may be given once")
            where.setdefault(attribute, {})[OPS[op]] = self._value(attribute, op, values[0])
        index = query["index"][0] if "index" in query else None
        if index is not None and index not in self._indexes:
            raise ValidationError("index", f"unknown index {index!r}")
        limit = DEFAULT_LIMIT
        if "limit" in query:
            text = query["limit"][0]
            if not _INTEGER.match(text) or not 1 <= int(text) <= MAX_LIMIT:
                raise ValidationError("limit", f"must be an integer from 1 to {MAX_LIMIT}")
            limit = int(text)
        cursor = query["cursor"][0] if "cursor" in query else None
        return ListQuery(where or None, index, limit, cursor)

    def _value(self, attribute: str, op: str, text: str) -> Any:
        if op == "begins_with":
            return text
        read = self._elements[attribute] if op == "contains" else self._values[attribute]
        try:
            return read(text)
        except ValueError as exc:
            raise ValidationError(f"{attribute}[{op}]", f"cannot read {text!r}: {exc}") from None
