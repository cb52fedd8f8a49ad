"""Keys of single-table secondary indexes: index attribute values as order-preserving strings.

An entity declares its indexes by attribute::

    class Person(Entity):
        INDEXES = {"GSI1": {"partition": ["gender"], "sort": ["age", "name"]}}

An index named ``N`` is a global secondary index of the table whose key attributes are the
strings ``NPK`` (hash) and ``NSK`` (range), here ``GSI1PK`` and ``GSI1SK``. One such index
serves every entity type in the table: dynamore writes both attributes on each item, computed
from the item's own attributes (:func:`index_key_values`), and queries them with key conditions
on the encoded strings (:func:`prefix_condition`, :func:`range_condition`).

Encoding
    Each value becomes a *component*, a type tag and a body:

    ========================  ======================================================  ==========
    value                     component                                               example
    ========================  ======================================================  ==========
    ``False``, ``True``       ``B0``, ``B1``                                          ``B1``
    negative number           ``N0``, exponent ``125 - e`` (3 digits), the nines'     ``N0124817~``
                              complement of the significant digits, then ``~``        (-18.2)
    zero                      ``N1``                                                  ``N1``
    positive number           ``N2``, exponent ``e + 130`` (3 digits), the            ``N2131182``
                              significant digits                                      (18.2)
    string                    ``S``, the text with U+0000, U+0001, U+0002 written     ``SJeanne``
                              as U+0002 followed by ``0``, ``1``, ``2``
    ========================  ======================================================  ==========

    ``e`` is the power of ten of a number's first significant digit (18.2 = 1.82E+1: ``e`` = 1;
    DynamoDB numbers have -130 <= ``e`` <= 125, so ``e + 130`` fits three digits) and the
    significant digits are written without leading or trailing zeros (at most 38 of them). A
    number is the number DynamoDB stores: ``18``, ``18.0`` and ``Decimal("1.8E1")`` have one
    component, and a float is read as its ``repr``, the text the codec sends.

    A *key* is the components of a tuple of values, each followed by the separator U+0001
    (:data:`SEPARATOR`): ``NSK`` = key(sort values), e.g. ``N213118\\x01SJeanne\\x01`` for
    ``(18, "Jeanne")``; ``NPK`` = the escaped entity title, U+0001, key(partition values), e.g.
    ``PERSON\\x01Sfemale\\x01``. The title makes entity types never share a partition.

Order
    DynamoDB orders strings by their UTF-8 bytes, which is the order of their code points. Key
    order is the order of the tuples: component by component, a shorter tuple before its
    extensions; within one position, ``False < True <`` numbers ``<`` strings, numbers by value,
    strings by code point (as DynamoDB compares them). Why it holds: every character inside a
    component is above U+0001 (strings escape the three lowest code points, with an escape
    character below every character written as itself), so where one key ends a component and
    another goes on, the separator decides for the shorter one; numbers compare by sign class,
    then exponent (fixed width, complemented for negatives), then digits; a negative number's
    complemented digits end with ``~``, above every digit, so that a longer magnitude (a larger
    one with the same leading digits) sorts first.

Sparse indexes
    An item lacking any attribute of an index, or holding ``None`` in one, is not in that index:
    :func:`index_key_values` returns None and the item is written without ``NPK``/``NSK``.
    Values other than strings, numbers and booleans cannot be index keys (ValidationError).

Key conditions on ``NSK``
    Equality on the first ``k`` sort attributes is ``begins_with(NSK, key(those values))``
    (``NSK = key(all values)`` when ``k`` is all of them): a key is a prefix of another exactly
    when its tuple is. A range on the next sort attribute becomes one ``BETWEEN`` whose bounds
    stay within that prefix and within the operand's type (numbers or strings), so the condition
    is exact. With ``P`` the key of the equal leading values and ``c(x)`` the component of the
    operand: ``>= x`` from ``P + c(x)``, ``> x`` from ``P + c(x) + U+0002`` (just above every
    key whose component is ``x``), ``<= x`` up to ``P + c(x) + U+0002``, ``< x`` up to
    ``P + c(x)`` (no key ends there: each ends with a separator), up to ``P + tag + 1`` (the
    next type tag) or from ``P + tag``; ``begins_with`` a string is ``begins_with(NSK, P + "S" +
    escaped text)``. Several ranges on that attribute make one ``BETWEEN`` of their intersection
    (when it is empty, the first is the key condition and the others filter). Anything else
    (``<>``, ``in``, ``contains``, bytes, conditions on later sort attributes) stays a filter on
    the raw attributes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple, Optional

from dynamore.codec import encode_value
from dynamore.exceptions import SchemaError, ValidationError

__all__ = [
    "MAX_PARTITION_KEY_BYTES",
    "MAX_SORT_KEY_BYTES",
    "SEPARATOR",
    "IndexSpec",
    "KeyRange",
    "encode_key",
    "encode_number_text",
    "encode_sort_value",
    "index_attributes",
    "index_key_values",
    "parse_indexes",
    "partition_value",
    "prefix_condition",
    "range_condition",
]

#: Follows every component of a key; below every character inside a component.
SEPARATOR = "\x01"
_ESCAPE = "\x02"  # starts an escaped character; also "just above the separator" in bounds
_ESCAPES = str.maketrans({"\x00": "\x020", "\x01": "\x021", "\x02": "\x022"})
_AFTER_TAG = {"B": "C", "N": "O", "S": "T"}  # the character just above each type tag

#: DynamoDB's limits on the UTF-8 size of a partition / sort key value (GSI keys included).
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024

_INDEX_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_KINDS = "index key values are strings, numbers or booleans"


@dataclass(frozen=True)
class IndexSpec:
    """One secondary index of an entity: its name and the attributes of its keys, in order.

    >>> spec = IndexSpec("GSI1", partition=("gender",), sort=("age", "name"))
    >>> spec.partition_key, spec.sort_key
    ('GSI1PK', 'GSI1SK')
    """

    name: str
    partition: tuple[str, ...]
    sort: tuple[str, ...]

    @property
    def partition_key(self) -> str:
        """Name of the index's hash key attribute (``<name>PK``)."""
        return self.name + "PK"

    @property
    def sort_key(self) -> str:
        """Name of the index's range key attribute (``<name>SK``)."""
        return self.name + "SK"

    @property
    def attributes(self) -> tuple[str, ...]:
        """Every entity attribute the index keys are built from."""
        return self.partition + self.sort


def parse_indexes(
    indexes: Any,
    *,
    properties: Collection[str],
    reserved: Collection[str] = (),
    owner: str = "Entity",
) -> dict[str, IndexSpec]:
    """Check an entity's ``INDEXES`` and return one :class:`IndexSpec` per index name.

    Each index names its ``partition`` attributes (a list, may be empty: one partition per
    entity type) and its ``sort`` attributes (a non-empty list); all must be schema
    ``properties``, none twice. ``reserved`` holds attribute names the table uses itself (the
    table's key attributes). Raises SchemaError naming ``<owner>.INDEXES[...]`` and the rule.

    >>> parse_indexes({"GSI1": {"partition": ["g"], "sort": ["a"]}}, properties={"g", "a"})
    {'GSI1': IndexSpec(name='GSI1', partition=('g',), sort=('a',))}
    """
    where = f"{owner}.INDEXES"
    if not isinstance(indexes, Mapping):
        raise SchemaError(
            where, "must be a dict of index name -> {'partition': [...], 'sort': [...]}"
        )
    specs: dict[str, IndexSpec] = {}
    taken = set(reserved)
    for name, spec in indexes.items():
        path = f"{where}[{name!r}]"
        if not isinstance(name, str) or not _INDEX_NAME.fullmatch(name):
            raise SchemaError(path, "an index name has 3-255 characters among A-Z a-z 0-9 _ . -")
        if not isinstance(spec, Mapping) or set(spec) - {"partition", "sort"}:
            raise SchemaError(path, "must be a dict with the keys 'partition' and 'sort' only")
        parts = []
        for part in ("partition", "sort"):
            names = spec.get(part, [])
            if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
                raise SchemaError(f"{path}.{part}", "must be a list of attribute names")
            parts.append(tuple(names))
        partition, sort = parts
        if not sort:
            raise SchemaError(f"{path}.sort", "needs at least one attribute")
        seen: set[str] = set()
        for attribute in partition + sort:
            if attribute not in properties:
                raise SchemaError(path, f"{attribute!r} is not a property of the schema")
            if attribute in seen:
                raise SchemaError(path, f"{attribute!r} appears twice")
            seen.add(attribute)
        result = IndexSpec(name, partition, sort)
        for key in (result.partition_key, result.sort_key):
            if key in taken or key in properties:
                raise SchemaError(path, f"its key attribute {key!r} is already in use")
            taken.add(key)
        specs[name] = result
    return specs


# --- encoding ----------------------------------------------------------------------------------


def encode_number_text(text: str) -> str:
    """The component of a DynamoDB number given as its text (``"18.2"``, ``"-1E+5"``): one
    canonical string per number, ordered as the numbers are. The text must be a valid DynamoDB
    number (as the codec writes it)."""
    _, digit_tuple, exponent = Decimal(text).as_tuple()
    assert isinstance(exponent, int)  # finite: the codec refused NaN and infinities
    digits = "".join(map(str, digit_tuple))
    significant = digits.rstrip("0")
    if not significant:
        return "N1"
    power = exponent + len(digits) - 1  # of the first digit: there are no leading zeros
    if text[0] != "-":
        return f"N2{power + 130:03d}{significant}"
    complement = significant.translate(_NINES)
    return f"N0{125 - power:03d}{complement}~"


_NINES = str.maketrans("0123456789", "9876543210")


def encode_sort_value(value: Any) -> str:
    """The component of one index attribute value (see the module docstring): strings,
    numbers and booleans; anything else raises ValidationError.

    >>> encode_sort_value(18), encode_sort_value(-18), encode_sort_value("Jeanne")
    ('N213118', 'N012481~', 'SJeanne')
    """
    if isinstance(value, str):
        return "S" + value.translate(_ESCAPES)
    if isinstance(value, bool):
        return "B1" if value else "B0"
    if isinstance(value, (int, float, Decimal)):
        return encode_number_text(encode_value(value)["N"])  # the codec checks the limits
    raise ValidationError("", f"{_KINDS}, not {type(value).__name__}")


def encode_key(values: Iterable[Any]) -> str:
    """The key of a tuple of values: each component followed by :data:`SEPARATOR`; keys
    compare as the tuples do, and a tuple's key is a prefix of its extensions' keys."""
    return "".join(encode_sort_value(v) + SEPARATOR for v in values)


def partition_value(entity_title: str, values: Iterable[Any]) -> str:
    """The ``NPK`` value of an entity type's items whose partition attributes are ``values``."""
    return entity_title.translate(_ESCAPES) + SEPARATOR + encode_key(values)


def index_key_values(
    entity_title: str, index: IndexSpec, item: Mapping[str, Any]
) -> Optional[dict[str, str]]:
    """``{NPK: ..., NSK: ...}`` for ``item`` in ``index``, or None when the item lacks one of
    the index's attributes (or holds None there): it is then not in the index (sparse).

    Raises ValidationError naming the attribute when a value cannot be an index key, or the
    index when a key would exceed DynamoDB's size limits.

    >>> spec = IndexSpec("GSI1", partition=("gender",), sort=("age",))
    >>> index_key_values("PERSON", spec, {"gender": "female", "age": 18})
    {'GSI1PK': 'PERSON\\x01Sfemale\\x01', 'GSI1SK': 'N213118\\x01'}
    >>> index_key_values("PERSON", spec, {"gender": "female"}) is None
    True
    """
    values = []
    for attribute in index.attributes:
        value = item.get(attribute)
        if value is None:
            return None
        try:
            values.append(encode_sort_value(value) + SEPARATOR)
        except ValidationError as exc:
            raise ValidationError(attribute, f"index {index.name}: {exc.rule}") from None
    split = len(index.partition)
    pk = entity_title.translate(_ESCAPES) + SEPARATOR + "".join(values[:split])
    sk = "".join(values[split:])
    for key, text, limit in (
        (index.partition_key, pk, MAX_PARTITION_KEY_BYTES),
        (index.sort_key, sk, MAX_SORT_KEY_BYTES),
    ):
        size = len(text.encode("utf-8"))
        if size > limit:
            raise ValidationError(
                key, f"index {index.name}: the key would take {size} bytes, DynamoDB allows {limit}"
            )
    return {index.partition_key: pk, index.sort_key: sk}


def index_attributes(
    entity_title: str, indexes: Iterable[IndexSpec], item: Mapping[str, Any]
) -> dict[str, str]:
    """The key attributes of every index ``item`` is in, to write along with the item."""
    attributes: dict[str, str] = {}
    for index in indexes:
        keys = index_key_values(entity_title, index, item)
        if keys is not None:
            attributes.update(keys)
    return attributes


# --- key conditions ----------------------------------------------------------------------------


_RANGE_OPERATORS = frozenset({"<", "<=", ">", ">=", "between", "begins_with"})


class KeyRange(NamedTuple):
    """A key condition on ``NSK``: ``op`` is ``"="`` (one operand), ``"begins_with"`` (one)
    or ``"between"`` (two, inclusive, low <= high)."""

    op: str
    operands: tuple[str, ...]


def prefix_condition(values: Sequence[Any], sort_attributes: int) -> Optional[KeyRange]:
    """The exact condition for equality on the first ``len(values)`` of an index's
    ``sort_attributes`` sort attributes; None when there are none (every key qualifies)."""
    if not values:
        return None
    key = encode_key(values)
    return KeyRange("=" if len(values) == sort_attributes else "begins_with", (key,))


def range_condition(prefix: Sequence[Any], op: str, operand: Any) -> Optional[KeyRange]:
    """The exact condition for equality on the sort attributes before one (``prefix``) and
    ``op`` (``<``, ``<=``, ``>``, ``>=``, ``between``, ``begins_with``) with ``operand`` on
    that one; None when it has no exact form (an operand that is not a string or number,
    ``begins_with`` bytes, ``between`` bounds of two types)."""
    if op not in _RANGE_OPERATORS:
        return None
    p = encode_key(prefix)
    if op == "begins_with":
        return KeyRange(op, (p + encode_sort_value(operand),)) if isinstance(operand, str) else None
    bounds = operand if op == "between" else (operand,)
    tags = set()
    texts = []
    for bound in bounds:
        if isinstance(bound, bool) or not isinstance(bound, (str, int, float, Decimal)):
            return None
        texts.append(p + encode_sort_value(bound))
        tags.add(texts[-1][len(p)])
    if len(tags) != 1:
        return None
    tag = tags.pop()
    lowest, highest = p + tag, p + _AFTER_TAG[tag]
    if op == "between":
        low, high = texts[0], texts[1] + _ESCAPE
    else:
        at = texts[0]
        low, high = {
            ">=": (at, highest),
            ">": (at + _ESCAPE, highest),
            "<=": (lowest, at + _ESCAPE),
            "<": (lowest, at),
        }[op]
    return KeyRange("between", (low, high)) if low <= high else None
