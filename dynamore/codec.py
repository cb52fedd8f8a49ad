"""Python values <-> DynamoDB AttributeValues (the JSON wire form), with no I/O.

>>> encode_item({"id": "a1", "n": 3, "tags": {"x"}, "blob": b"\\x00"})
{'id': {'S': 'a1'}, 'n': {'N': '3'}, 'tags': {'SS': ['x']}, 'blob': {'B': 'AA=='}}
>>> decode_item({"n": {"N": "3"}, "f": {"N": "0.5"}, "l": {"L": [{"NULL": True}]}})
{'n': 3, 'f': 0.5, 'l': [None]}

Encoding
    ``str`` -> ``S``; ``int`` -> ``N``; finite ``float`` -> ``N`` via ``repr`` (the shortest text
    that reads back as the same float); ``decimal.Decimal`` -> ``N``; ``bool`` -> ``BOOL``;
    ``None`` -> ``NULL``; ``dict`` and other ``Mapping`` with str keys -> ``M``; ``list`` and
    ``tuple`` -> ``L``; ``bytes``, ``bytearray``, ``memoryview`` -> ``B`` (base64 text, as on the
    wire); ``set``/``frozenset`` of only strings, only numbers or only bytes -> ``SS``, ``NS``,
    ``BS``.
    Subclasses of these types are encoded as their base type, so ``IntEnum`` members become
    numbers and ``str``-based enums become strings (``bool`` cannot be subclassed). Every other
    type (``datetime``, ``complex``, ``object()`` ...) raises :class:`UnsupportedTypeError`.

    The result is ready for ``json.dumps``. It shares ``str`` objects with the input but no
    containers, so changing it later does not change the caller's item (nor the reverse).

Decoding
    ``N`` whose text has no ``.``, ``e`` or ``E`` -> ``int``; any other ``N`` -> ``float``, or
    ``Decimal`` with ``use_decimal=True`` (exact, for values a float cannot hold). ``B`` ->
    ``bytes``; ``SS``/``NS``/``BS`` -> ``set``; ``NULL`` -> ``None``; ``L`` -> ``list``;
    ``M`` -> ``dict``. A malformed AttributeValue raises :class:`ValidationError` with its path.

Round trips
    ``decode(encode(v)) == v`` for every supported value (floats exactly, through ``repr``),
    except that tuples come back as lists, frozensets as sets, bytearray and memoryview as bytes,
    and a Decimal whose text has no ``.`` or exponent as an int (``Decimal("5")`` -> ``5``; a
    zero Decimal such as ``Decimal("0E-200")`` is written as ``"0"``).

    DynamoDB stores numbers, not their text, and may write one back in a form of its own:
    DynamoDB Local rewrites an item's own numbers and number sets as plain digits (``"1.0"`` ->
    ``"1"``, ``"1e+16"`` -> ``"10000000000000000"``) and keeps the text of numbers inside lists
    and maps. So *after a trip through the server, a float whose value is integral may come back
    as an int*: the int that ``repr(f)`` denotes. ``1.0`` -> ``1``, ``1e16`` -> ``10**16``,
    ``2.0**63`` -> ``9223372036854776000``, ``1e23`` -> ``10**23``. The value is kept:
    ``float(decoded) == f`` always holds, ``decoded == f`` whenever the float is exactly that
    integer (``1e23`` is not: it is 99999999999999991611392). Non-integral floats come back as the
    same float. Code that needs a float calls ``float()``; ``use_decimal=True`` reads every
    number exactly.

Comparing items
    :func:`canonical_item` turns a wire item into a form that compares equal exactly when
    DynamoDB holds the same item: numbers by value (``"1.0"``, ``"1"`` and ``"1E+0"`` agree),
    sets whatever their order, binary by its bytes, and every type kept apart (``true`` is not
    ``1``). This is how a retried write recognises its own earlier write in what DynamoDB sends
    back.

Limits (checked before anything is sent, as :class:`ValidationError`, a ``ValueError``)
    Numbers: finite, at most 38 significant digits (leading and trailing zeros do not count, so
    ``10**40`` is fine and ``10**40 + 1`` is not), magnitude from 1E-130 to
    9.9999999999999999999999999999999999999E+125, or zero. No empty sets, no sets mixing kinds,
    no duplicate numbers in a number set (``{0.1, Decimal("0.1")}``), map keys and attribute
    names must be non-empty ``str``; at most :data:`MAX_DEPTH` levels (the item's attributes are
    level 1, so lists and maps may sit at levels 1-31); an item of at most
    :data:`MAX_ITEM_BYTES` by DynamoDB's size rules (:func:`item_size`). Each error names the
    attribute path, e.g. ``meta.when[2]``, and the rule.

Speed
    Dispatch is on the exact type, most common first (str, int, float, dict, list, bool, None);
    every rarer type goes through one fallback. Decoding looks the tag up in a table built at
    import. Paths are only built when an error travels up, never on success. The size check
    costs one cheap upper bound per item; the exact size is computed only near the limit.
    :func:`encode_item_json` writes a map whose layout (its names, in order) it has met before
    through a function generated for that layout, with the names' JSON as constants: the same
    text, with no per-attribute dispatch (see "plans" in the source).
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Mapping, Set
from json.encoder import encode_basestring as _esc

from dynamore.exceptions import UnsupportedTypeError, ValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from decimal import Decimal
    from typing import Any, Callable, Optional, Union

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEM_BYTES",
    "canonical_item",
    "decode_item",
    "decode_value",
    "encode_item",
    "encode_item_json",
    "encode_value",
    "item_decoder",
    "item_size",
]

MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB's item size limit: attribute names plus values, by :func:`item_size`."""

MAX_DEPTH = 32
"""Nesting levels DynamoDB accepts: an item's attributes are level 1, the values inside a list or
map one level deeper than it; a list or map needs a level below it, so it may sit at level 31."""

AttributeValue = dict[str, "Any"]
"""One wire AttributeValue, e.g. ``{"S": "x"}``, ``{"L": [{"N": "1"}]}``."""

_ERRORS = (ValidationError, UnsupportedTypeError)
_N38 = 10**38  # an int of smaller magnitude is a valid DynamoDB number as it is
_NEG_N38 = -_N38
_N126 = 10**126  # an int of this magnitude or more is too large
_TOO_BIG = "number magnitude above 9.9999999999999999999999999999999999999E+125"
_TOO_SMALL = "nonzero number magnitude below 1E-130"
_TOO_PRECISE = "number with more than 38 significant digits"
_NAN = "NaN is not a DynamoDB number"
_INFINITY = "infinity is not a DynamoDB number"
_TOO_DEEP = f"nesting deeper than {MAX_DEPTH} levels"
_EMPTY_NAME = "empty attribute name (map key)"
_SET_KINDS = "a set holds only strings, only numbers or only bytes"
# The size check counts in units of 4 bytes (see _enc_map): 4 * units >= the item size.
_UNITS_LIMIT = MAX_ITEM_BYTES // 4
_b2a = binascii.b2a_base64
_a2b = binascii.a2b_base64


# --- errors: a path is built on the way up, and only when something failed ---------------------


def _join(segment: str, path: str) -> str:
    if not path:
        return segment
    return segment + path if path[0] == "[" else f"{segment}.{path}"


def _prefixed(exc: Union[ValidationError, UnsupportedTypeError], segment: str) -> Exception:
    """``exc`` again, its path one segment longer on the left (``a`` + ``[2].b``)."""
    path = _join(segment, exc.path)
    new: Exception
    if isinstance(exc, ValidationError):
        new = ValidationError(path, exc.rule)
    else:
        new = UnsupportedTypeError(path, exc.value_type)
    return new.with_traceback(exc.__traceback__)


def _key(key: Any) -> str:
    """A map key or attribute name that is not an exact ``str``: a str subclass (e.g. a str
    enum) as its plain value, anything else refused."""
    if isinstance(key, str):
        return str.__str__(key)
    raise ValidationError("", f"map key {key!r} is of type {type(key).__name__}, not str")


# --- numbers -----------------------------------------------------------------------------------


def _float_text(v: float) -> str:
    # The range test is exact on the float itself: repr is monotonic, repr(1e-130) == "1e-130",
    # and every float below 1e126 has a repr below 1E+126 with at most 17 digits, hence within
    # 9.99...E+125 (38 nines).
    if 1e-130 <= v < 1e126 or -1e126 < v <= -1e-130 or v == 0.0:
        return repr(v)
    if v != v:
        raise ValidationError("", _NAN)
    if v in (math.inf, -math.inf):
        raise ValidationError("", _INFINITY)
    raise ValidationError("", _TOO_BIG if abs(v) > 1.0 else _TOO_SMALL)


def _int_text(v: int) -> str:
    """Text of an int of 38 digits or more (the callers inline the common small ones)."""
    if v >= _N126 or v <= -_N126:
        raise ValidationError("", _TOO_BIG)
    text = str(v)
    if len(text.rstrip("0")) - (v < 0) > 38:
        raise ValidationError("", _TOO_PRECISE)
    return text


#: ``decimal.Decimal`` once :func:`_decimal` has imported it, for the encoders' exact-type
#: check (``type(v) is _Decimal``: False for every value while it is None).
_Decimal: Any = None


def _decimal() -> type[Decimal]:
    """``decimal.Decimal``, imported where a value may be one (the rare paths): a Decimal exists
    only once its module is imported, and a client that reads numbers as int and float never
    loads ``decimal`` (~0.4 MB of peak memory and ~2 ms of every Lambda cold start)."""
    global _Decimal
    if _Decimal is None:
        from decimal import Decimal

        _Decimal = Decimal
    return _Decimal  # type: ignore[no-any-return]


def _decimal_text(d: Decimal) -> str:
    if not d.is_finite():
        raise ValidationError("", _NAN if d.is_nan() else _INFINITY)
    _, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    n = sig = len(digits)
    while sig and digits[sig - 1] == 0:
        sig -= 1
    if not sig:
        return "0"  # any zero ("0E-1000", "-0.00"): DynamoDB stores 0
    if sig > 38:
        raise ValidationError("", _TOO_PRECISE)
    if exp + n - 1 > 125:  # exp + n - 1: the power of ten of the leading digit
        raise ValidationError("", _TOO_BIG)
    if exp + n - 1 < -130:
        raise ValidationError("", _TOO_SMALL)
    return str(d)


def _number_text(v: Any) -> str:
    """Text of any supported number: int, float, Decimal or a subclass of int or float."""
    t = type(v)
    if t is int:
        return str(v) if _NEG_N38 < v < _N38 else _int_text(v)
    if t is float:
        return _float_text(v)
    if isinstance(v, float):
        return _float_text(float(v))
    if isinstance(v, _decimal()):
        return _decimal_text(v)
    return _number_text(int(v))  # an int subclass such as IntEnum (bool never comes here)


# --- encoding ----------------------------------------------------------------------------------
#
# The container encoders return (body, units): units is an upper bound of the DynamoDB size of
# what they encoded, in units of 4 bytes, counted on the way at almost no cost. A list or map
# costs 3 bytes plus 1 per element; a number at most 21 bytes; bool and null 1 byte: so each
# container adds 1 unit plus 6 per element, and only strings and names add their length (a code
# point is at most 4 UTF-8 bytes). Only an item whose bound passes 400 KB gets its exact size.
#
# The type dispatch of _enc is written out again inside the loops of _enc_map and _enc_list: a
# function call per value would cost more than the rest of the work on it.


def _enc(v: Any, level: int) -> tuple[AttributeValue, int]:
    """(AttributeValue, size units) of ``v``, which sits at nesting ``level`` (attribute: 1)."""
    t = type(v)
    if t is str:
        return {"S": v}, len(v)
    if t is int:
        return {"N": f"{v}" if _NEG_N38 < v < _N38 else _int_text(v)}, 0
    if t is float:
        return {"N": _float_text(v)}, 0
    if t is dict:
        m, units = _enc_map(v, level)
        return {"M": m}, units
    if t is list:
        seq, units = _enc_list(v, level)
        return {"L": seq}, units
    if t is bool:
        return {"BOOL": v}, 0
    if v is None:
        return {"NULL": True}, 0
    return _enc_rare(v, level)


def _enc_map(m: Mapping[Any, Any], level: int) -> tuple[dict[str, AttributeValue], int]:
    """(``M`` body, size units) of a mapping at ``level`` (an item is level 0)."""
    if level >= MAX_DEPTH:
        raise ValidationError("", _TOO_DEEP)
    if "" in m:
        raise ValidationError("", _EMPTY_NAME)
    inner = level + 1
    out: dict[str, AttributeValue] = {}
    units = 1 + 6 * len(m)
    k: Any = None
    try:
        for k, x in m.items():
            if type(k) is not str:
                k = _key(k)
            units += len(k)
            t = type(x)
            if t is str:
                out[k] = {"S": x}
                units += len(x)
            elif t is int:
                out[k] = {"N": f"{x}" if _NEG_N38 < x < _N38 else _int_text(x)}
            elif t is float:
                out[k] = {
                    "N": repr(x)
                    if 1e-130 <= x < 1e126 or -1e126 < x <= -1e-130 or x == 0.0
                    else _float_text(x)
                }
            elif t is dict:
                body, u = _enc_map(x, inner)
                out[k] = {"M": body}
                units += u
            elif t is list:
                seq, u = _enc_list(x, inner)
                out[k] = {"L": seq}
                units += u
            elif t is bool:
                out[k] = {"BOOL": x}
            elif x is None:
                out[k] = {"NULL": True}
            else:
                out[k], u = _enc_rare(x, inner)
                units += u
    except _ERRORS as exc:
        if type(k) is not str:
            raise  # the key itself was refused: the error is about this map
        raise _prefixed(exc, k) from None
    return out, units


def _enc_list(seq: Any, level: int) -> tuple[list[AttributeValue], int]:
    """(``L`` body, size units) of a list or tuple at ``level``."""
    if level >= MAX_DEPTH:
        raise ValidationError("", _TOO_DEEP)
    inner = level + 1
    out: list[AttributeValue] = []
    append = out.append
    units = 1 + 6 * len(seq)
    try:
        for x in seq:
            t = type(x)
            if t is str:
                append({"S": x})
                units += len(x)
            elif t is int:
                append({"N": f"{x}" if _NEG_N38 < x < _N38 else _int_text(x)})
            elif t is float:
                append(
                    {
                        "N": repr(x)
                        if 1e-130 <= x < 1e126 or -1e126 < x <= -1e-130 or x == 0.0
                        else _float_text(x)
                    }
                )
            elif t is dict:
                body, u = _enc_map(x, inner)
                append({"M": body})
                units += u
            elif t is list:
                items, u = _enc_list(x, inner)
                append({"L": items})
                units += u
            elif t is bool:
                append({"BOOL": x})
            elif x is None:
                append({"NULL": True})
            else:
                av, u = _enc_rare(x, inner)
                append(av)
                units += u
    except _ERRORS as exc:
        raise _prefixed(exc, f"[{len(out)}]") from None
    return out, units


def _b64(b: Any) -> str:
    return _b2a(b, newline=False).decode("ascii")


def _enc_rare(v: Any, level: int) -> tuple[AttributeValue, int]:
    """Every type the fast paths do not know: exact types first (isinstance with a tuple or an
    ABC costs several times more), then subclasses and other mappings, sets and sequences."""
    t = type(v)
    if t is set or t is frozenset:
        return _enc_set(v)
    if t is _Decimal:  # boto3's number type, common in code moving from it
        return {"N": _decimal_text(v)}, 0
    if t is bytes:
        return {"B": _b64(v)}, len(v) // 4 + 1
    if t is tuple:
        seq, units = _enc_list(v, level)
        return {"L": seq}, units
    if isinstance(v, (bytes, bytearray)):
        return {"B": _b64(v)}, len(v) // 4 + 1
    if isinstance(v, memoryview):
        return {"B": _b64(v.tobytes())}, v.nbytes // 4 + 1
    if isinstance(v, (list, tuple)):
        seq, units = _enc_list(v, level)
        return {"L": seq}, units
    if isinstance(v, Mapping):
        m, units = _enc_map(v, level)
        return {"M": m}, units
    if isinstance(v, (set, frozenset, Set)):
        return _enc_set(v)
    if isinstance(v, str):
        return {"S": str.__str__(v)}, len(v)
    if isinstance(v, (int, float, _decimal())):
        return {"N": _number_text(v)}, 0
    raise UnsupportedTypeError("", type(v))


def _enc_set(s: Any) -> tuple[AttributeValue, int]:
    if not s:
        raise ValidationError("", "empty set (DynamoDB has none: leave the attribute out)")
    for first in s:
        if isinstance(first, str):
            try:
                units = len("".join(s))  # all str, and their length, in one C-level pass
            except TypeError:
                break  # not all str: refused below
            return {"SS": [x if type(x) is str else str.__str__(x) for x in s]}, units
        break
    return _enc_set_not_str(s)


def _set_kind(x: Any) -> str:
    if isinstance(x, str):
        return "S"
    if isinstance(x, (int, float, _decimal())) and type(x) is not bool:
        return "N"
    if isinstance(x, (bytes, bytearray, memoryview)):
        return "B"
    raise ValidationError("", f"{_SET_KINDS}, not {type(x).__name__}")


def _enc_set_not_str(s: Any) -> tuple[AttributeValue, int]:
    kinds = {_set_kind(x) for x in s}
    if len(kinds) > 1:
        raise ValidationError("", f"{_SET_KINDS}, not a mix")
    if kinds.pop() == "B":
        blobs = [x.tobytes() if isinstance(x, memoryview) else x for x in s]
        return {"BS": [_b64(b) for b in blobs]}, sum(len(b) // 4 + 1 for b in blobs)
    texts = [_number_text(x) for x in s]
    decimal = _decimal()
    if len({decimal(t) for t in texts}) != len(texts):
        # e.g. {0.1, Decimal("0.1")}: two Python values, one DynamoDB number
        raise ValidationError("", "a number set holds the same number twice")
    return {"NS": texts}, 6 * len(texts)


def encode_value(value: Any) -> AttributeValue:
    """The wire AttributeValue of one value, placed as an item attribute (nesting level 1).

    >>> encode_value({"when": [1.5, None]})
    {'M': {'when': {'L': [{'N': '1.5'}, {'NULL': True}]}}}
    """
    return _enc(value, 1)[0]


def encode_item(item: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """The wire form of an item (attribute name -> AttributeValue), checked against every
    DynamoDB limit including the 400 KB item size.

    >>> encode_item({"PK": "PERSON", "age": 123})
    {'PK': {'S': 'PERSON'}, 'age': {'N': '123'}}
    """
    if type(item) is not dict and not isinstance(item, Mapping):
        raise UnsupportedTypeError("", type(item))
    out, units = _enc_map(item, 0)
    if units > _UNITS_LIMIT:
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise ValidationError(
                "", f"item of {size} bytes, over DynamoDB's limit of {MAX_ITEM_BYTES} (400 KB)"
            )
    return out


# --- encoding straight to JSON text --------------------------------------------------------------
#
# The same walk as above, writing the wire JSON instead of building AttributeValue dicts for
# json.dumps to walk again: the request path of put_item and the bulk loader (measured: half
# the CPU of encode_item + json.dumps). The fast paths mirror _enc_map and _enc_list line for
# line (same checks, same errors); every rarer type goes through _json_rare. The text is exactly
# what the client's encoder (compact separators, UTF-8 kept) writes for encode_item's result.
# Every container appends its pieces to one list for the whole item, joined once at the end:
# no list, join and copy of the text per nested container.
#
# No size units are counted here: the text's own length bounds the item's size. Every code
# point of a name or string is at least one character of the text and at most 4 UTF-8 bytes;
# binary is shorter than its base64; a number (at most 21 bytes, about half a byte per digit)
# and every per-element overhead (1 byte in a list or map, 3 per container) are written as
# more characters than a quarter of their bytes. So size <= 4 * len(text), and only a text
# longer than a quarter of 400 KB gets the item's exact size.


def _json_map(m: Mapping[Any, Any], level: int, append: Callable[[str], object]) -> None:
    """Append the JSON text of the ``M`` body of a mapping at ``level`` (an item is level 0):
    through a plan for its layout when one matches (see below), else by the walk. The walk,
    the list walk and the plans write this lookup out for the exact dicts they meet: a call
    per map costs more than the lookup."""
    if type(m) is dict:
        layout = tuple(m)
        plan = _PLANS.get(layout)
        if plan is None or not plan(m, level, append):
            _json_unplanned(m, layout, level, append)
    else:
        _json_walk(m, level, append)


def _json_unplanned(
    m: dict[Any, Any], layout: tuple[Any, ...], level: int, append: Callable[[str], object]
) -> None:
    """Append the JSON text of an exact dict no plan wrote (``layout``: its names, as looked
    up), counting it towards a plan."""
    if 0 < len(layout) <= _PLAN_NAMES and level < MAX_DEPTH:
        _learn(layout, m)
    _json_walk(m, level, append)


def _json_walk(m: Mapping[Any, Any], level: int, append: Callable[[str], object]) -> None:
    """Append the JSON text of the ``M`` body of a mapping at ``level``, value by value."""
    if level >= MAX_DEPTH:
        raise ValidationError("", _TOO_DEEP)
    if "" in m:
        raise ValidationError("", _EMPTY_NAME)
    inner = level + 1
    sep = "{"  # what goes before the next member: "{" before the first, "," after
    k: Any = None
    try:
        for k, x in m.items():
            if type(k) is not str:
                k = _key(k)
            t = type(x)
            if t is str:
                append(f'{sep}{_esc(k)}:{{"S":{_esc(x)}}}')
            elif t is int:
                n = f"{x}" if _NEG_N38 < x < _N38 else _int_text(x)
                append(f'{sep}{_esc(k)}:{{"N":"{n}"}}')
            elif t is float:
                n = (
                    repr(x)
                    if 1e-130 <= x < 1e126 or -1e126 < x <= -1e-130 or x == 0.0
                    else _float_text(x)
                )
                append(f'{sep}{_esc(k)}:{{"N":"{n}"}}')
            elif t is dict:
                append(f'{sep}{_esc(k)}:{{"M":')
                layout = tuple(x)
                plan = _PLANS.get(layout)
                if plan is None or not plan(x, inner, append):
                    _json_unplanned(x, layout, inner, append)
                append("}")
            elif t is list:
                append(f'{sep}{_esc(k)}:{{"L":')
                _json_list(x, inner, append)
                append("}")
            elif t is bool:
                append(f'{sep}{_esc(k)}:{{"BOOL":{"true" if x else "false"}}}')
            elif x is None:
                append(f'{sep}{_esc(k)}:{{"NULL":true}}')
            else:
                append(f"{sep}{_esc(k)}:")
                _json_rare(x, inner, append)
            sep = ","
    except _ERRORS as exc:
        if type(k) is not str:
            raise  # the key itself was refused: the error is about this map
        raise _prefixed(exc, k) from None
    append("{}" if sep == "{" else "}")


def _json_list(seq: Any, level: int, append: Callable[[str], object]) -> None:
    """Append the JSON text of the ``L`` body of a list or tuple at ``level``."""
    if level >= MAX_DEPTH:
        raise ValidationError("", _TOO_DEEP)
    inner = level + 1
    sep = "["
    x: Any = None
    try:
        for x in seq:
            t = type(x)
            if t is str:
                append(f'{sep}{{"S":{_esc(x)}}}')
            elif t is int:
                append(f'{sep}{{"N":"{x if _NEG_N38 < x < _N38 else _int_text(x)}"}}')
            elif t is float:
                n = (
                    repr(x)
                    if 1e-130 <= x < 1e126 or -1e126 < x <= -1e-130 or x == 0.0
                    else _float_text(x)
                )
                append(f'{sep}{{"N":"{n}"}}')
            elif t is dict:
                append(f'{sep}{{"M":')
                layout = tuple(x)
                plan = _PLANS.get(layout)
                if plan is None or not plan(x, inner, append):
                    _json_unplanned(x, layout, inner, append)
                append("}")
            elif t is list:
                append(f'{sep}{{"L":')
                _json_list(x, inner, append)
                append("}")
            elif t is bool:
                append(f'{sep}{{"BOOL":{"true" if x else "false"}}}')
            elif x is None:
                append(f'{sep}{{"NULL":true}}')
            else:
                append(sep)
                _json_rare(x, inner, append)
            sep = ","
    except _ERRORS as exc:
        # The first element that is x fails first: the same object encodes the same way.
        index = next(i for i, y in enumerate(seq) if y is x)
        raise _prefixed(exc, f"[{index}]") from None
    append("[]" if sep == "[" else "]")


def _json_rare(v: Any, level: int, append: Callable[[str], object]) -> None:
    """Append the JSON text of a type the fast paths do not know: the common exact types first
    (an isinstance test against an ABC costs several times more), sequences and mappings
    through the fast paths again, the rest (subclasses, bytearray, memoryview) as _enc_rare
    encodes them."""
    t = type(v)
    if t is set or t is frozenset:
        if v and type(next(iter(v))) is str:
            try:  # a string set, written at once (_esc refuses a non-str: the set is mixed)
                append(f'{{"SS":[{",".join(map(_esc, v))}]}}')
                return
            except TypeError:
                pass
        append(_av_json(_enc_set(v)[0]))
    elif t is bytes:
        append(f'{{"B":"{_b64(v)}"}}')  # base64 needs no escaping
    elif t is _Decimal:
        append(f'{{"N":"{_decimal_text(v)}"}}')
    elif t is tuple or isinstance(v, (list, tuple)):
        append('{"L":')
        _json_list(v, level, append)
        append("}")
    elif isinstance(v, Mapping):
        append('{"M":')
        _json_map(v, level, append)
        append("}")
    else:
        append(_av_json(_enc_rare(v, level)[0]))


# --- plans: the JSON of one layout, written out ----------------------------------------------
#
# Items of one kind have the same attribute names in the same order, and mostly the same value
# types. Once a map's layout (its tuple of names) has been seen _PLAN_AFTER times, a function
# is generated for it and the value types of the map at hand: every name's JSON text is a
# constant, every value is checked for exactly that type (numbers for their range too) before
# anything is written, and the values are formatted into one f-string, containers through the
# walk (a map through its own layout's plan, looked up in place). A map past the depth limit,
# or whose values fail the checks, goes to the layout's earlier plan, and after the first one
# is declined (False) and walked; a layout gets up to _PLAN_VARIANTS plans for
# different value types (an int or a float in one attribute, say). The names reach the generated
# code only as constants in its namespace, never as source text. The walk stays the reference:
# every error is raised by it, and tests check that plans write the walk's exact text.

_PLAN_AFTER = 2  # the first map of a layout is walked: a one-off item compiles nothing
_PLAN_NAMES = 32  # larger maps are walked
_PLAN_VARIANTS = 4
_MAX_PLANS = 256  # layouts with plans; more are walked
_MAX_SEEN = 1024  # layouts counted towards a plan; the count starts over beyond it
_PLANS: dict[tuple[str, ...], Callable[..., bool]] = {}  # the newest variant of each layout
_VARIANTS: dict[tuple[str, ...], int] = {}
_SEEN: dict[tuple[str, ...], int] = {}
#: The types a plan writes inline: (check of the value, JSON before it, f-string field, JSON
#: after it), ``{v}`` standing for the value's variable. The checks are the walk's fast paths;
#: no field can raise (a value that could fail, such as a set, goes through the walk's code).
_INLINE: dict[type, tuple[str, str, str, str]] = {
    str: ("type({v}) is str", '{"S":', "_esc({v})", "}"),
    int: ("type({v}) is int and _LO < {v} < _HI", '{"N":"', "{v}", '"}'),
    float: (
        "type({v}) is float and (1e-130 <= {v} < 1e126 or -1e126 < {v} <= -1e-130 or {v} == 0.0)",
        '{"N":"',
        "{v}!r",
        '"}',
    ),
    bool: ("type({v}) is bool", '{"BOOL":', "_TRUE if {v} else _FALSE", "}"),
    bytes: ("type({v}) is bytes", '{"B":"', "_b64({v})", '"}'),  # base64 needs no escaping
}


def _decline(m: dict[str, Any], level: int, append: Callable[[str], object]) -> bool:
    """What the first plan of a layout falls back to when a map fails its checks."""
    return False


def _learn(layout: tuple[str, ...], m: dict[str, Any]) -> None:
    """Count a map no plan wrote; at the _PLAN_AFTER-th of its layout, add a plan for it
    (which tries the layout's earlier plan when a map fails its own checks)."""
    variants = _VARIANTS.get(layout, 0)
    if variants >= _PLAN_VARIANTS or (not variants and len(_PLANS) >= _MAX_PLANS):
        return
    seen = _SEEN.get(layout, 0) + 1
    if seen < _PLAN_AFTER:
        if len(_SEEN) >= _MAX_SEEN:
            _SEEN.clear()
        _SEEN[layout] = seen
        return
    _SEEN.pop(layout, None)
    plan = _make_plan(m, _PLANS.get(layout, _decline))
    if plan is None:  # names no plan writes: stop counting them
        _PLANS[layout] = _decline
        _VARIANTS[layout] = _PLAN_VARIANTS
    else:
        _PLANS[layout] = plan
        _VARIANTS[layout] = variants + 1


def _make_plan(m: dict[str, Any], earlier: Callable[..., bool]) -> Optional[Callable[..., bool]]:
    """A function that writes maps of ``m``'s layout and value types as the walk does and
    hands any other map to ``earlier``; None when a name is not a plain non-empty ``str`` (the
    walk handles and refuses those)."""
    namespace: dict[str, Any] = {
        "_earlier": earlier,
        "_esc": _esc,
        "_b64": _b64,
        "_json_unplanned": _json_unplanned,
        "_PLANS": _PLANS,
        "_DEEP": MAX_DEPTH,
        "_json_list": _json_list,
        "_json_rare": _json_rare,
        "_ERRORS": _ERRORS,
        "_prefixed": _prefixed,
        "_LO": _NEG_N38,
        "_HI": _N38,
        "_TRUE": "true",
        "_FALSE": "false",
    }
    checks: list[str] = []  # one per value, all passed before anything is written
    lines: list[str] = []  # the statements that write
    fields: list[str] = []  # the f-string fields of the next append
    literal = ""  # JSON text not yet in a field

    def place_literal() -> None:
        nonlocal literal
        name = f"K{len(namespace)}"
        namespace[name] = literal  # text (and names) only ever as constants
        fields.append(name)
        literal = ""

    def write() -> None:
        if literal:
            place_literal()
        if len(fields) == 1:
            lines.append(f"        append({fields[0]})")
        elif fields:
            lines.append(f'        append(f"{"".join(f"{{{x}}}" for x in fields)}")')
        fields.clear()

    for i, (k, x) in enumerate(m.items()):
        if type(k) is not str or not k:
            return None
        v = f"v{i}"
        literal += ("{" if i == 0 else ",") + _esc(k) + ":"
        t = type(x)
        inline = _INLINE.get(t)
        if inline is not None:
            check, before, field, after = inline
            checks.append(check.format(v=v))
            literal += before
            place_literal()
            fields.append(field.format(v=v))
            literal = after
        elif x is None:
            checks.append(f"{v} is None")
            literal += '{"NULL":true}'
        else:  # a container, or a rarer type: the walk's functions write it
            if t is dict:
                checks.append(f"type({v}) is dict")
                literal += '{"M":'
                call = (
                    f"layout = tuple({v})\n"
                    "        p = _PLANS.get(layout)\n"
                    f"        if p is None or not p({v}, inner, append):\n"
                    f"            _json_unplanned({v}, layout, inner, append)"
                )
            elif t is list:
                checks.append(f"type({v}) is list")
                literal += '{"L":'
                call = f"_json_list({v}, inner, append)"
            else:
                namespace[f"T{i}"] = t
                checks.append(f"type({v}) is T{i}")
                call = f"_json_rare({v}, inner, append)"
            write()
            namespace[f"N{i}"] = k
            lines += [f"        at = N{i}", f"        {call}"]  # at: the name an error gets
            if t is dict or t is list:
                literal = "}"
    literal += "}"
    write()
    source = "\n".join(
        [
            "def plan(m, level, append):",
            f"    {', '.join(f'v{i}' for i in range(len(m)))}, = m.values()",
            f"    if not (level < _DEEP and {' and '.join(checks)}):",
            "        return _earlier(m, level, append)",
            "    inner = level + 1",
            "    try:",  # only the walk's functions can raise: the checks passed
            *lines,
            "    except _ERRORS as exc:",
            "        raise _prefixed(exc, at) from None",
            "    return True",
        ]
    )
    exec(compile(source, "<dynamore.codec plan>", "exec"), namespace)  # noqa: S102 - see above
    return namespace["plan"]  # type: ignore[no-any-return]


def _av_json(av: AttributeValue) -> str:
    """JSON text of a scalar or set AttributeValue (``S``, ``N``, ``B``, ``SS``, ``NS``, ``BS``)."""
    ((tag, x),) = av.items()
    if type(x) is list:
        return f'{{"{tag}":[{",".join(map(_esc, x))}]}}'
    return f'{{"{tag}":{_esc(x)}}}'


def encode_item_json(item: Mapping[str, Any]) -> str:
    """The JSON text of :func:`encode_item`'s result, written in one walk (no AttributeValue
    dicts built): the same checks and errors, and exactly the text the client's request encoder
    (compact separators, UTF-8 kept) writes for ``encode_item(item)``. A string holding a lone
    surrogate passes here and fails when the text is encoded to UTF-8.

    >>> encode_item_json({"PK": "PERSON", "age": 123, "tags": ["a", None]})
    '{"PK":{"S":"PERSON"},"age":{"N":"123"},"tags":{"L":[{"S":"a"},{"NULL":true}]}}'
    """
    if type(item) is not dict and not isinstance(item, Mapping):
        raise UnsupportedTypeError("", type(item))
    parts: list[str] = []
    _json_map(item, 0, parts.append)
    text = "".join(parts)
    if len(text) > _UNITS_LIMIT:  # a character bounds 4 bytes, as a unit does (see above)
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise ValidationError(
                "", f"item of {size} bytes, over DynamoDB's limit of {MAX_ITEM_BYTES} (400 KB)"
            )
    return text


# --- item size ---------------------------------------------------------------------------------


def _str_size(s: str) -> int:
    # surrogatepass: a lone surrogate still has a size (json.dumps escapes it on the wire)
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _number_size(text: str) -> int:
    """Bytes DynamoDB counts for a number (any text this module writes): one for the exponent,
    one per base-100 digit pair (pairs aligned on the decimal point, leading and trailing zero
    pairs dropped), and one more for a negative number of fewer than 20 pairs. AWS documents
    "about 1 byte per two significant digits, plus 1"; this exact form is what DynamoDB Local
    enforces at the 400 KB limit (see the tests)."""
    mantissa, _, exponent = text.lower().partition("e")
    whole, _, fraction = mantissa.lstrip("-").partition(".")
    digits = whole + fraction
    significant = digits.lstrip("0")
    if not significant.rstrip("0"):
        return 1  # zero
    # power of ten of the leading significant digit, then of the last nonzero one
    high = len(whole) - 1 + (int(exponent) if exponent else 0) - (len(digits) - len(significant))
    low = high - len(significant.rstrip("0")) + 1
    pairs = high // 2 - low // 2 + 1
    return 1 + pairs + (1 if mantissa[0] == "-" and pairs < 20 else 0)


def _size(v: Any) -> int:
    t = type(v)
    if t is str:
        return _str_size(v)
    if t is int or t is float:
        return _number_size(_number_text(v))
    if t is dict:
        return 3 + sum(1 + _str_size(k) + _size(x) for k, x in v.items())
    if t is list or t is tuple:
        return 3 + sum(1 + _size(x) for x in v)
    if t is bool or v is None:
        return 1
    if isinstance(v, (bytes, bytearray)):
        return len(v)
    if isinstance(v, memoryview):
        return v.nbytes
    if isinstance(v, (set, frozenset, Set)):
        return sum(_size(x) for x in v)
    if isinstance(v, (int, float, _decimal())):
        return _number_size(_number_text(v))
    if isinstance(v, str):
        return _str_size(v)
    if isinstance(v, (list, tuple)):
        return 3 + sum(1 + _size(x) for x in v)
    if isinstance(v, Mapping):
        return 3 + sum(1 + _str_size(k) + _size(x) for k, x in v.items())
    raise UnsupportedTypeError("", type(v))


def item_size(item: Mapping[str, Any]) -> int:
    """The size DynamoDB counts for ``item``, a Python item as given to :func:`encode_item`.

    The sum, over the attributes, of the UTF-8 bytes of the name and the size of the value:
    a string its UTF-8 bytes, binary its raw bytes, a number 1 to 21 bytes (two digits a byte,
    see the tests), bool and null 1 byte, a list or map 3 bytes plus, per element, 1 byte, its
    key's UTF-8 bytes (maps) and its size; a set the sum of its elements. The value must be
    encodable (:func:`encode_item` checks that); a type with no DynamoDB form raises
    :class:`UnsupportedTypeError`.

    >>> item_size({"PK": "PERSON", "age": 123, "tags": ["a", "b"]})
    25
    """
    return sum(_str_size(k) + _size(x) for k, x in item.items())


# --- decoding ----------------------------------------------------------------------------------


def _decode_error(exc: Exception, segment: str) -> ValidationError:
    """A decoding failure as a ValidationError whose path gains ``segment`` on the left."""
    if isinstance(exc, ValidationError):
        return ValidationError(_join(segment, exc.path) if segment else exc.path, exc.rule)
    if isinstance(exc, KeyError):
        rule = f"unknown AttributeValue type {exc.args[0]!r}"
    else:
        rule = f"not a valid AttributeValue ({type(exc).__name__}: {exc})"
    return ValidationError(segment, rule)


class _Decoders:
    """The decoding functions of one number policy (see :func:`_make_decoder`); a plain
    class, not a NamedTuple, so that ``typing`` stays off the cold path."""

    __slots__ = ("item", "item_in_place", "value")

    def __init__(
        self,
        value: Callable[[Any], Any],
        item: Callable[[Any], dict[str, Any]],
        item_in_place: Callable[[Any], dict[str, Any]],
    ) -> None:
        self.value = value
        self.item = item
        self.item_in_place = item_in_place


def _make_decoder(  # noqa: C901 - one closure per tag keeps decoding free of lookups (measured)
    number: Callable[[str], Any],
) -> _Decoders:
    """The decoders reading non-integral ``N`` with ``number``; built twice at import (float
    and Decimal), never per call."""

    def dec_n(x: str) -> Any:  # the rule, written out inline in the loops below
        return number(x) if "." in x or "e" in x or "E" in x else int(x)

    # S, N, M and L, the common tags, are tested inline in each loop below (a call per value
    # would cost more than the work on it); the table serves the rest.
    table: dict[str, Callable[[Any], Any]] = {
        "BOOL": bool,
        "NULL": lambda x: None,
        "B": _a2b,
        "SS": set,
        "NS": lambda x: {dec_n(t) for t in x},
        "BS": lambda x: {_a2b(t) for t in x},
    }

    def dec(av: Any) -> Any:
        (tag,) = av
        x = av[tag]
        if tag == "S":
            return x
        if tag == "N":
            return number(x) if "." in x or "e" in x or "E" in x else int(x)
        if tag == "M":
            return dec_m(x)
        if tag == "L":
            return dec_l(x)
        return table[tag](x)

    def dec_m(m: dict[str, Any]) -> dict[str, Any]:
        out = {}
        k = ""
        try:
            for k, av in m.items():
                (tag,) = av
                x = av[tag]
                if tag == "S":
                    out[k] = x
                elif tag == "N":
                    out[k] = number(x) if "." in x or "e" in x or "E" in x else int(x)
                elif tag == "M":
                    out[k] = dec_m(x)
                elif tag == "L":
                    out[k] = dec_l(x)
                else:
                    out[k] = table[tag](x)
        except Exception as exc:
            raise _decode_error(exc, k) from None
        return out

    def dec_l(seq: list[Any]) -> list[Any]:
        out: list[Any] = []
        append = out.append
        try:
            for av in seq:
                (tag,) = av
                x = av[tag]
                if tag == "S":
                    append(x)
                elif tag == "N":
                    append(number(x) if "." in x or "e" in x or "E" in x else int(x))
                elif tag == "M":
                    append(dec_m(x))
                elif tag == "L":
                    append(dec_l(x))
                else:
                    append(table[tag](x))
        except Exception as exc:
            raise _decode_error(exc, f"[{len(out)}]") from None
        return out

    def dec_value(av: Any) -> Any:
        try:
            return dec(av)
        except Exception as exc:
            raise _decode_error(exc, "") from None

    return _Decoders(dec_value, dec_m, _make_in_place_decoder(number, table))


def _make_in_place_decoder(
    number: Callable[[str], Any], table: dict[str, Callable[[Any], Any]]
) -> Callable[[Any], dict[str, Any]]:
    """The in-place item decoder of :func:`_make_decoder`'s number policy and tag table."""

    # The decoders' walk, writing each value over its AttributeValue in the map or list that
    # held it: no new dict per item and map, no new list per list, and the freed AttributeValues
    # are freed while still in the cache (measured on a page of 1000 items of 10 attributes:
    # a quarter less time for parsing and decoding together).
    def dec_m_in_place(m: dict[str, Any]) -> dict[str, Any]:
        k = ""
        try:
            for k, av in m.items():
                (tag,) = av
                x = av[tag]
                if tag == "S":
                    m[k] = x
                elif tag == "N":
                    m[k] = number(x) if "." in x or "e" in x or "E" in x else int(x)
                elif tag == "M":
                    m[k] = dec_m_in_place(x)
                elif tag == "L":
                    m[k] = dec_l_in_place(x)
                else:
                    m[k] = table[tag](x)
        except Exception as exc:
            raise _decode_error(exc, k) from None
        return m

    def dec_l_in_place(seq: list[Any]) -> list[Any]:
        i = 0
        try:
            for av in seq:
                (tag,) = av
                x = av[tag]
                if tag == "S":
                    seq[i] = x
                elif tag == "N":
                    seq[i] = number(x) if "." in x or "e" in x or "E" in x else int(x)
                elif tag == "M":
                    seq[i] = dec_m_in_place(x)
                elif tag == "L":
                    seq[i] = dec_l_in_place(x)
                else:
                    seq[i] = table[tag](x)
                i += 1
        except Exception as exc:
            raise _decode_error(exc, f"[{i}]") from None
        return seq

    return dec_m_in_place


_FLOAT = _make_decoder(float)
# Built at the first use_decimal=True decoding (so that decimal is imported only then). Two
# threads may both build it: the same decoders, the last one kept.
_DECIMAL: Optional[_Decoders] = None


def _decoders(use_decimal: bool) -> _Decoders:
    global _DECIMAL
    if not use_decimal:
        return _FLOAT
    if _DECIMAL is None:
        _DECIMAL = _make_decoder(_decimal())
    return _DECIMAL


def decode_value(av: AttributeValue, *, use_decimal: bool = False) -> Any:
    """The Python value of one wire AttributeValue (``B`` as base64 text, as on the wire).

    >>> decode_value({"NS": ["1", "2.5"]})
    {1, 2.5}
    """
    return _decoders(use_decimal).value(av)


def decode_item(av_map: dict[str, AttributeValue], *, use_decimal: bool = False) -> dict[str, Any]:
    """The Python item of a wire item (attribute name -> AttributeValue).

    >>> decode_item({"PK": {"S": "PERSON"}, "age": {"N": "123"}, "w": {"N": "1.5"}})
    {'PK': 'PERSON', 'age': 123, 'w': 1.5}
    """
    return _decoders(use_decimal).item(av_map)


# --- canonical form ----------------------------------------------------------------------------


def _canonical(av: AttributeValue) -> Any:
    (tag,) = av
    x = av[tag]
    if tag == "S" or tag == "BOOL":
        return tag, x
    if tag == "N":
        return tag, _decimal()(x)  # compares and hashes by value: "1.0" == "1" == "1E+0"
    if tag == "M":
        return tag, frozenset((k, _canonical(v)) for k, v in x.items())
    if tag == "L":
        return tag, tuple(_canonical(v) for v in x)
    if tag == "NULL":
        return tag, None
    if tag == "B":
        return tag, _a2b(x)
    if tag == "SS":
        return tag, frozenset(x)
    if tag == "NS":
        decimal = _decimal()
        return tag, frozenset(decimal(t) for t in x)
    if tag == "BS":
        return tag, frozenset(_a2b(t) for t in x)
    raise KeyError(tag)


def canonical_item(av_map: dict[str, AttributeValue]) -> dict[str, Any]:
    """A wire item in a form where two items compare equal exactly when DynamoDB stores the
    same item (see "Comparing items" above): encode what was sent, take what came back, and
    compare the two canonical forms.

    >>> sent = encode_item({"n": 3.0, "t": ("a", 1), "s": {"x", "y"}})
    >>> canonical_item(sent) == canonical_item(
    ...     {"n": {"N": "3"}, "t": {"L": [{"S": "a"}, {"N": "1"}]}, "s": {"SS": ["y", "x"]}})
    True
    """
    out = {}
    name = ""
    try:
        for name, av in av_map.items():
            out[name] = _canonical(av)
    except Exception as exc:
        raise _decode_error(exc, name) from None
    return out


def item_decoder(
    *, use_decimal: bool = False, in_place: bool = False
) -> Callable[[dict[str, AttributeValue]], dict[str, Any]]:
    """:func:`decode_item` with its number policy fixed: what a client builds once and calls
    for every item (no flag passed around, no branch per call).

    ``in_place=True``: the decoder turns the wire item it is given into the Python item and
    returns that same dict (each map and list of it likewise) instead of building new ones:
    cheaper, for wire items no one else holds, such as a response just parsed.

    >>> item_decoder(use_decimal=True)({"w": {"N": "1.5"}})
    {'w': Decimal('1.5')}
    >>> wire = {"n": {"N": "3"}, "l": {"L": [{"S": "x"}]}}
    >>> item_decoder(in_place=True)(wire) is wire, wire
    (True, {'n': 3, 'l': ['x']})
    """
    decoders = _decoders(use_decimal)
    return decoders.item_in_place if in_place else decoders.item
