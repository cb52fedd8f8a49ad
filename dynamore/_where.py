"""The ``where`` of entity queries: checked, compiled to DynamoDB expressions, and evaluated.

::

    where = {"gender": "female", "age": {">=": 18}, "nick": {"exists": False}}

Each attribute maps to a value (equality) or to ``{operator: operand, ...}`` (every operator
must hold): ``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``, ``between`` (``[low, high]``),
``begins_with``, ``contains``, ``in`` (a list of 1 to 100 values), ``exists`` (``True`` or
``False``). A dict value is always the operator form; compare with a map through ``{"=": {...}}``.
:func:`parse_where` checks it (attributes must be schema properties; operands must suit the
operator) and raises ValidationError naming the attribute and the operator.

The semantics are DynamoDB's, and :func:`matches` evaluates them in Python (tests use it as the
oracle): an absent attribute fails every operator but ``<>`` and ``exists: False``;
``<``/``<=``/``>``/``>=``/``between`` compare strings (by code point, as UTF-8 bytes), numbers
(by value) and bytes, and are false across types; ``begins_with`` works on strings and bytes;
``contains`` is a substring of a string or bytes, an element of a set, or an element of a list;
values are equal as DynamoDB sees them (``1 == 1.0``, but ``True != 1``).

:func:`compile_where` turns it into a Query: the key condition (``PK = title`` on the table, or
``NPK = ...`` on an index, see :mod:`dynamore._indexkeys`) plus whatever conditions map onto the
sort key exactly, and a filter of the rest. Every attribute name and every value goes through
placeholders (``#w0``, ``:w0``, ...): the expressions hold nothing the caller wrote.
:func:`fingerprint` gives a canonical text of a ``where``, to bind cursors to it.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Collection, Mapping, Sequence, Set
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple, Optional, Union

from dynamore._indexkeys import (
    IndexSpec,
    KeyRange,
    encode_number_text,
    encode_sort_value,
    partition_value,
    prefix_condition,
    range_condition,
)
from dynamore.codec import _prefixed, encode_value
from dynamore.exceptions import UnsupportedTypeError, ValidationError

__all__ = [
    "MAX_IN_VALUES",
    "OPERATORS",
    "CompiledQuery",
    "Condition",
    "TableKeys",
    "compile_where",
    "fingerprint",
    "matches",
    "parse_where",
]

OPERATORS = ("=", "<>", "<", "<=", ">", ">=", "between", "begins_with", "contains", "in", "exists")
#: DynamoDB's limit on the operands of ``IN``.
MAX_IN_VALUES = 100

_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_COMPARISONS = frozenset(_COMPARE)
_BYTES = (bytes, bytearray, memoryview)


class Condition(NamedTuple):
    """One checked condition: ``attribute op operand`` (``between``: a ``(low, high)`` tuple,
    ``in``: a tuple of values)."""

    attribute: str
    op: str
    operand: Any


Where = Union[Mapping[str, Any], Sequence[Condition], None]


# --- checking ----------------------------------------------------------------------------------


def parse_where(
    where: Optional[Mapping[str, Any]], *, properties: Optional[Collection[str]] = None
) -> tuple[Condition, ...]:
    """The conditions of ``where``, checked, in the order given. With ``properties``, every
    attribute must be one of them. Raises ValidationError (UnsupportedTypeError for operands of
    types with no DynamoDB form) naming the attribute and the operator.

    >>> parse_where({"gender": "female", "age": {">=": 18, "<": 65}})
    (Condition(attribute='gender', op='=', operand='female'), Condition(attribute='age', \
op='>=', operand=18), Condition(attribute='age', op='<', operand=65))
    """
    if where is None:
        return ()
    if not isinstance(where, Mapping):
        raise ValidationError(
            "where", "must be a dict of attribute -> value or {operator: operand}"
        )
    conditions = []
    for attribute, spec in where.items():
        if not isinstance(attribute, str) or not attribute:
            raise ValidationError(
                "where", f"attribute names are non-empty strings, not {attribute!r}"
            )
        if properties is not None and attribute not in properties:
            raise ValidationError(attribute, "is not a property of the entity's schema")
        if not isinstance(spec, Mapping):
            conditions.append(Condition(attribute, "=", _checked(attribute, "=", spec)))
            continue
        if not spec:
            raise ValidationError(attribute, f"needs at least one operator, among {OPERATORS}")
        for op, operand in spec.items():
            if op not in OPERATORS:
                raise ValidationError(attribute, f"unknown operator {op!r}; use one of {OPERATORS}")
            conditions.append(Condition(attribute, op, _checked(attribute, op, operand)))
    return tuple(conditions)


def _kind(value: Any) -> Optional[str]:
    """``S``, ``N`` or ``B`` for the values DynamoDB orders; None for the others."""
    if isinstance(value, str):
        return "S"
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return "N"
    if isinstance(value, _BYTES):
        return "B"
    return None


def _checked(attribute: str, op: str, operand: Any) -> Any:
    """``operand`` in its checked form (tuples for ``between`` and ``in``), or an error."""

    def bad(rule: str) -> ValidationError:
        return ValidationError(attribute, f"{op!r} {rule}")

    if op == "exists":
        if not isinstance(operand, bool):
            raise bad("takes True or False")
        return operand
    if op in ("between", "in"):
        if not isinstance(operand, (list, tuple)):
            raise bad("takes a list" + (" [low, high]" if op == "between" else " of values"))
        operand = tuple(operand)
    if op == "between":
        kinds = {_kind(bound) for bound in operand}
        if len(operand) != 2 or len(kinds) != 1 or None in kinds:
            raise bad("takes [low, high], both strings, both numbers or both bytes")
    elif op == "in" and not 1 <= len(operand) <= MAX_IN_VALUES:
        raise bad(f"takes 1 to {MAX_IN_VALUES} values, not {len(operand)}")
    elif op in _COMPARISONS and _kind(operand) is None:
        raise bad(f"compares strings, numbers or bytes, not {type(operand).__name__}")
    elif op == "begins_with" and not isinstance(operand, (str, *_BYTES)):
        raise bad(f"takes a string or bytes, not {type(operand).__name__}")
    try:
        encode_value(list(operand) if op in ("between", "in") else operand)
    except (ValidationError, UnsupportedTypeError) as exc:
        raise _prefixed(exc, attribute) from None
    if op == "between" and _order_key(operand[0]) > _order_key(operand[1]):
        raise bad("takes [low, high] with low <= high")
    return operand


# --- evaluation --------------------------------------------------------------------------------


def _order_key(value: Any) -> Any:
    """A key that orders values of one kind (S, N or B) as DynamoDB does."""
    if isinstance(value, str):
        return value  # code point order is UTF-8 byte order
    if isinstance(value, _BYTES):
        return bytes(value)
    return encode_number_text(encode_value(value)["N"])  # ordered as the numbers


def _canonical_av(av: Mapping[str, Any]) -> Any:
    ((tag, body),) = av.items()
    if tag == "N":
        return {"N": encode_number_text(body)}
    if tag == "NS":
        return {"NS": sorted(encode_number_text(n) for n in body)}
    if tag in ("SS", "BS"):
        return {tag: sorted(body)}
    if tag == "L":
        return {"L": [_canonical_av(e) for e in body]}
    if tag == "M":
        return {"M": {k: _canonical_av(e) for k, e in body.items()}}
    return dict(av)


def _canonical(value: Any) -> str:
    """One text per value as DynamoDB tells values apart (``1`` and ``1.0`` alike, sets in
    any order), so that equal texts mean equal values."""
    return json.dumps(
        _canonical_av(encode_value(value)),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _holds(item: Mapping[str, Any], condition: Condition) -> bool:
    attribute, op, operand = condition
    if op == "exists":
        return (attribute in item) is operand
    if attribute not in item:
        return op == "<>"
    value = item[attribute]
    if op == "=":
        return _canonical(value) == _canonical(operand)
    if op == "<>":
        return _canonical(value) != _canonical(operand)
    if op == "in":
        return _canonical(value) in {_canonical(v) for v in operand}
    if op in _COMPARISONS:
        return _kind(value) == _kind(operand) and bool(
            _COMPARE[op](_order_key(value), _order_key(operand))
        )
    if op == "between":
        low, high = operand
        return _kind(value) == _kind(low) and _order_key(low) <= _order_key(value) <= _order_key(
            high
        )
    text = _text(value)
    if text is not None and type(text) is type(_text(operand)):
        if op == "begins_with":
            return bool(text[: len(operand)] == _text(operand))
        return bool(_text(operand) in text)  # contains
    if op == "contains" and isinstance(value, (Set, list, tuple)):
        wanted = _canonical(operand)
        return any(_canonical(element) == wanted for element in value)
    return False


def _text(value: Any) -> Any:
    """A string as it is, bytes-like values as bytes, anything else None: what
    ``begins_with`` and ``contains`` look into."""
    if isinstance(value, str):
        return value
    return bytes(value) if isinstance(value, _BYTES) else None


def _conditions(where: Where) -> Sequence[Condition]:
    if where is None or isinstance(where, Mapping):
        return parse_where(where)
    return where


def matches(item: Mapping[str, Any], where: Where) -> bool:
    """True when ``item`` (plain values, as the client returns them) satisfies every
    condition of ``where`` (a where dict, or conditions from :func:`parse_where`), with
    DynamoDB's semantics.

    >>> matches({"age": 20}, {"age": {"between": [18, 65]}, "nick": {"exists": False}})
    True
    """
    return all(_holds(item, condition) for condition in _conditions(where))


def fingerprint(where: Where) -> str:
    """A canonical text of ``where``: the same for the same conditions in any order and for
    operands DynamoDB holds equal (``18``, ``18.0``), different otherwise. Bind cursors to it."""
    parts = []
    for attribute, op, operand in _conditions(where):
        canonical: Any
        if op == "exists":
            canonical = operand
        elif op == "between":
            canonical = [_canonical(bound) for bound in operand]
        elif op == "in":
            canonical = sorted({_canonical(v) for v in operand})
        else:
            canonical = _canonical(operand)
        parts.append(json.dumps([attribute, op, canonical], ensure_ascii=False))
    return "[" + ",".join(sorted(set(parts))) + "]"


# --- compilation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableKeys:
    """How the table keys an entity type's items: ``partition`` = ``title``, ``sort`` =
    ``sort_format`` with the title and the id (``"{id}"``, or 0.1's ``"#{title}#{id}"``)."""

    title: str
    partition: str = "PK"
    sort: str = "SK"
    sort_format: str = "{id}"


@dataclass(frozen=True)
class CompiledQuery:
    """A Query for :meth:`dynamore.Client.query`: ``key_condition``, ``filter`` (None when
    every condition is in the key condition), ``names`` and ``values`` (plain values),
    ``index`` (the IndexName, None for the table) and ``key_attributes``: the attributes that
    make up a position in this query (the table's keys, plus the index's) for a cursor;
    ``partition``: the placeholder in ``values`` holding the table's partition key value (None
    on an index), which a read of a sharded type sets to each shard's in turn."""

    key_condition: str
    filter: Optional[str]
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    index: Optional[str] = None
    key_attributes: tuple[str, ...] = ()
    partition: Optional[str] = None


class _Placeholders:
    """Names and values of one expression set: one name placeholder per attribute, one value
    placeholder per operand."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._of: dict[str, str] = {}

    def name(self, attribute: str) -> str:
        placeholder = self._of.get(attribute)
        if placeholder is None:
            placeholder = self._of[attribute] = f"#w{len(self._of)}"
            self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":w{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def condition(self, condition: Condition) -> str:
        attribute, op, operand = condition
        n = self.name(attribute)
        if op == "exists":
            return f"attribute_exists({n})" if operand else f"attribute_not_exists({n})"
        if op == "between":
            return f"{n} BETWEEN {self.value(operand[0])} AND {self.value(operand[1])}"
        if op == "in":
            return f"{n} IN ({', '.join(self.value(v) for v in operand)})"
        if op in ("begins_with", "contains"):
            return f"{op}({n}, {self.value(operand)})"
        return f"{n} {op} {self.value(operand)}"

    def key(self, attribute: str, key_range: KeyRange) -> str:
        op, operands = key_range
        return self.condition(
            Condition(attribute, op, operands if op == "between" else operands[0])
        )


_PRIORITY = {"=": 0, "begins_with": 1, "between": 2, "<": 3, "<=": 3, ">": 3, ">=": 3}


def _id_type(subschema: Any) -> Optional[str]:
    kind = subschema.get("type") if isinstance(subschema, Mapping) else None
    return "string" if kind in ("string", "uuid4") else "integer" if kind == "integer" else None


def _table_range(
    condition: Condition, keys: TableKeys, id_type: Optional[str]
) -> Optional[tuple[KeyRange, bool]]:
    """The sort key condition for a condition on the id, and whether it is exact (else the
    condition stays in the filter too); None when it has no sort key form.

    The sort key is ``prefix + str(id) + suffix``: equality maps for str and int ids; the
    string ranges only for string ids (ints would compare as text), without a suffix, and the
    one-sided ones only without a prefix (which they would leave)."""
    mapped = _table_range_of(condition, keys, id_type)
    # DynamoDB refuses an empty string as a key value, even in a condition: leave it a filter
    return None if mapped is None or "" in mapped[0].operands else mapped


def _table_range_of(
    condition: Condition, keys: TableKeys, id_type: Optional[str]
) -> Optional[tuple[KeyRange, bool]]:
    _, op, x = condition
    if "{id}" not in keys.sort_format:
        return None
    head, tail = keys.sort_format.split("{id}", 1)
    prefix, suffix = head.format(title=keys.title), tail.format(title=keys.title)
    if op == "=":
        if isinstance(x, bool) or not isinstance(x, (str, int)):
            return None
        sort = keys.sort_format.format(title=keys.title, id=x)  # as Entity.make_identity does
        exact = id_type == ("string" if isinstance(x, str) else "integer")
        return KeyRange("=", (sort,)), exact
    if id_type != "string" or suffix:
        return None
    if op == "begins_with" and isinstance(x, str):
        return KeyRange(op, (prefix + x,)), True
    if op == "between" and isinstance(x[0], str):
        return KeyRange(op, (prefix + x[0], prefix + x[1])), True
    if op in _COMPARISONS and isinstance(x, str) and not prefix:
        return KeyRange(op, (x,)), True
    return None


def _table_sort(
    conditions: Sequence[Condition], table: TableKeys, id_attribute: str, id_type: Optional[str]
) -> tuple[Optional[KeyRange], set[int]]:
    """The sort key condition of a table listing and the positions of the conditions it
    expresses exactly: the id condition of the most selective kind that maps, or else, with
    a sort key prefix (dynamore 0.1's layout), ``begins_with`` that prefix."""
    chosen: Optional[tuple[int, KeyRange, bool]] = None
    for i, condition in enumerate(conditions):
        if condition.attribute != id_attribute:
            continue
        mapped = _table_range(condition, table, id_type)
        if mapped and (chosen is None or _PRIORITY[mapped[0].op] < _PRIORITY[chosen[1].op]):
            chosen = (i, *mapped)
    if chosen is not None:
        return chosen[1], {chosen[0]} if chosen[2] else set()
    if "{id}" not in table.sort_format:
        return None, set()
    prefix = table.sort_format.split("{id}", 1)[0].format(title=table.title)
    return (KeyRange("begins_with", (prefix,)) if prefix else None), set()


def _index_ranges(
    conditions: Sequence[Condition], index: IndexSpec, title: str
) -> tuple[str, Optional[KeyRange], set[int]]:
    """The NPK value, the NSK condition (or None) and the positions of the conditions they
    express exactly."""
    used: set[int] = set()

    def equality(attribute: str) -> Optional[tuple[int, Any]]:
        for i, (name, op, operand) in enumerate(conditions):
            if name == attribute and op == "=" and i not in used:
                try:
                    encode_sort_value(operand)
                except ValidationError:
                    continue  # None, a list ...: no item in the index has it; a filter says so
                return i, operand
        return None

    partition = []
    for attribute in index.partition:
        found = equality(attribute)
        if found is None:
            raise ValidationError(
                attribute,
                f"querying index {index.name} needs equality on each of its partition "
                f"attributes {list(index.partition)} (a string, number or boolean)",
            )
        used.add(found[0])
        partition.append(found[1])
    prefix: list[Any] = []
    for attribute in index.sort:
        found = equality(attribute)
        if found is not None:
            used.add(found[0])
            prefix.append(found[1])
            continue
        best: Optional[KeyRange] = None
        taken: list[int] = []
        for i, condition in enumerate(conditions):
            if condition.attribute != attribute or i in used:
                continue
            candidate = range_condition(prefix, condition.op, condition.operand)
            if candidate is None or best is not None and best.op == "begins_with":
                continue
            if candidate.op == "begins_with":
                best, taken = candidate, [i]  # no BETWEEN can hold it: it goes alone
            elif best is None:
                best, taken = candidate, [i]
            else:  # both BETWEEN: their intersection, if not empty
                low = max(best.operands[0], candidate.operands[0])
                high = min(best.operands[1], candidate.operands[1])
                if low <= high:
                    best = KeyRange("between", (low, high))
                    taken.append(i)
        if best is not None:
            used.update(taken)
            return partition_value(title, partition), best, used
        break
    return partition_value(title, partition), prefix_condition(prefix, len(index.sort)), used


def compile_where(
    where: Optional[Mapping[str, Any]],
    *,
    properties: Mapping[str, Any],
    id_attribute: str,
    table: TableKeys,
    index: Optional[str] = None,
    indexes: Optional[Mapping[str, IndexSpec]] = None,
) -> CompiledQuery:
    """The Query listing the items of ``table.title`` that satisfy ``where``.

    ``properties`` is the schema's ``properties`` (their names bound ``where``; the id
    attribute's type decides which id conditions map onto the sort key). Without ``index``,
    conditions on ``id_attribute`` become sort key conditions where that is exact. With
    ``index`` (a name in ``indexes``), ``where`` must hold equality on each partition attribute
    of the index; equality on its leading sort attributes and the range conditions on the next
    one become the NSK condition (see :mod:`dynamore._indexkeys`). The other conditions form
    the filter. Only items in the index (having all its attributes) are found through it.

    >>> q = compile_where({"age": {">=": 18}}, properties={"id": {"type": "string"}, "age": {}},
    ...                   id_attribute="id", table=TableKeys("PERSON"))
    >>> q.key_condition, q.filter, q.names, q.values
    ('#w0 = :w0', '#w1 >= :w1', {'#w0': 'PK', '#w1': 'age'}, {':w0': 'PERSON', ':w1': 18})
    """
    conditions = parse_where(where, properties=properties)
    placeholders = _Placeholders()
    partition = None
    if index is None:
        parts = [placeholders.key(table.partition, KeyRange("=", (table.title,)))]
        (partition,) = placeholders.values  # the first and only value so far
        id_type = _id_type(properties.get(id_attribute))
        sort, exact = _table_sort(conditions, table, id_attribute, id_type)
        if sort is not None:
            parts.append(placeholders.key(table.sort, sort))
        key_attributes: tuple[str, ...] = (table.partition, table.sort)
    else:
        spec = (indexes or {}).get(index)
        if spec is None:
            raise ValidationError("index", f"{index!r} is not an index of {table.title}")
        npk, nsk, exact = _index_ranges(conditions, spec, table.title)
        parts = [placeholders.key(spec.partition_key, KeyRange("=", (npk,)))]
        if nsk is not None:
            parts.append(placeholders.key(spec.sort_key, nsk))
        key_attributes = (table.partition, table.sort, spec.partition_key, spec.sort_key)
    rest = [c for i, c in enumerate(conditions) if i not in exact]
    filter_parts = [placeholders.condition(c) for c in rest]
    return CompiledQuery(
        " AND ".join(parts),
        " AND ".join(filter_parts) or None,
        placeholders.names,
        placeholders.values,
        index,
        key_attributes,
        partition,
    )
