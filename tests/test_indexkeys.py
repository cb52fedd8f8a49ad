"""dynamore._indexkeys: the order of encoded index keys is the order of the values (proved with
Hypothesis on UTF-8 bytes, as DynamoDB compares), key conditions on the encoded sort key select
exactly what the raw conditions select, sparse items, limits and INDEXES checking."""

from __future__ import annotations

import doctest
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dynamore import _indexkeys
from dynamore._indexkeys import (
    SEPARATOR,
    IndexSpec,
    KeyRange,
    encode_key,
    encode_sort_value,
    index_attributes,
    index_key_values,
    parse_indexes,
    partition_value,
    prefix_condition,
    range_condition,
)
from dynamore._where import matches
from dynamore.exceptions import SchemaError, ValidationError

# --- strategies and the oracle ------------------------------------------------------------------

# the escaped characters, their neighbours, and the edges of UTF-8 lengths
LOW = "\x00\x01\x02\x03ab~\x7f\u00e9\uffff\U0001f600"

ints = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-(10**38) + 1, 10**38 - 1),
    st.builds(lambda m, e: m * 10**e, st.integers(-(10**20), 10**20), st.integers(1, 80)),
)
floats = st.one_of(
    st.floats(min_value=1e-130, max_value=math.nextafter(1e126, 0)),
    st.floats(min_value=-math.nextafter(1e126, 0), max_value=-1e-130),
    st.sampled_from([0.0, -0.0, 0.5, -0.5, 1.0, 18.0, 1e-130, -1e-130]),
)


@st.composite
def decimals(draw: st.DrawFn) -> Decimal:
    """Any DynamoDB number, some with trailing zeros, at the edges of the exponent range too."""
    n = draw(st.integers(1, 38))
    digits = str(draw(st.integers(10 ** (n - 1), 10**n - 1)))
    power = draw(st.one_of(st.integers(-130, 125), st.sampled_from([-130, -129, 124, 125])))
    zeros = draw(st.integers(0, 3))
    sign = draw(st.sampled_from(["", "-"]))
    return Decimal(f"{sign}{digits}{'0' * zeros}E{power - n + 1 - zeros}")


numbers = st.one_of(ints, floats, decimals())
strings = st.one_of(st.text(max_size=8), st.text(alphabet=LOW, max_size=5))
values = st.one_of(st.booleans(), numbers, strings)


def dynamodb_number(v: Any) -> Decimal:
    """The number DynamoDB stores for ``v``: floats travel as their repr."""
    return Decimal(repr(v)) if isinstance(v, float) else Decimal(v)


def oracle(v: Any) -> tuple[int, Any]:
    """The documented order: booleans < numbers < strings; each by value."""
    if isinstance(v, bool):
        return (0, v)
    if isinstance(v, str):
        return (2, v)
    return (1, dynamodb_number(v))


def utf8(text: str) -> bytes:
    return text.encode("utf-8")


def sign(x: Any, y: Any) -> int:
    return (x > y) - (x < y)


def test_doctests() -> None:
    assert doctest.testmod(_indexkeys).failed == 0


# --- order ------------------------------------------------------------------------------------


@given(values, values)
def test_component_order_is_value_order(a: Any, b: Any) -> None:
    assert sign(utf8(encode_sort_value(a)), utf8(encode_sort_value(b))) == sign(
        oracle(a), oracle(b)
    )


@given(numbers, numbers)
def test_number_order_and_equality_are_dynamodbs(a: Any, b: Any) -> None:
    ea, eb = utf8(encode_sort_value(a)), utf8(encode_sort_value(b))
    assert sign(ea, eb) == sign(dynamodb_number(a), dynamodb_number(b))


@given(st.lists(st.lists(values, max_size=4).map(tuple), min_size=2, max_size=12))
def test_sorted_tuples_equal_sorted_encoded_keys(tuples: list[tuple[Any, ...]]) -> None:
    by_value = sorted(tuples, key=lambda t: tuple(oracle(v) for v in t))
    by_key = sorted(tuples, key=lambda t: utf8(encode_key(t)))
    assert [tuple(oracle(v) for v in t) for t in by_key] == [
        tuple(oracle(v) for v in t) for t in by_value
    ]


@given(st.lists(values, max_size=4), st.lists(values, max_size=4))
def test_key_order_is_tuple_order_and_a_prefix_sorts_first(a: list[Any], b: list[Any]) -> None:
    ka, kb = encode_key(a), encode_key(b)
    oa, ob = [oracle(v) for v in a], [oracle(v) for v in b]
    assert sign(utf8(ka), utf8(kb)) == sign(oa, ob)
    # a key is a prefix of another exactly when its tuple is (begins_with on leading attributes)
    assert kb.startswith(ka) == (ob[: len(oa)] == oa)


def test_documented_components() -> None:
    assert encode_sort_value(18.2) == "N2131182"
    assert encode_sort_value(-18.2) == "N0124817~"
    assert encode_sort_value(0) == encode_sort_value(-0.0) == encode_sort_value(Decimal("-0E+9"))
    assert encode_sort_value(0) == "N1"
    assert encode_sort_value(False) == "B0" and encode_sort_value(True) == "B1"
    assert encode_sort_value("a\x00\x01\x02b") == "Sa\x020\x021\x022b"
    # one component per DynamoDB number, however it is written
    forms = [18, 18.0, Decimal("18.00"), Decimal("1.8E1"), Decimal("0.018E3")]
    assert {encode_sort_value(v) for v in forms} == {"N213118"}
    # the ends of DynamoDB's range take the ends of the three-digit exponent
    assert encode_sort_value(Decimal("1E-130")) == "N20001"
    assert encode_sort_value(Decimal("9" * 38 + "E+88")) == "N2255" + "9" * 38
    assert encode_sort_value(Decimal("-" + "9" * 38 + "E+88")) == "N0000" + "0" * 38 + "~"
    assert encode_key([]) == ""
    assert encode_key([18, "Jeanne"]) == "N213118\x01SJeanne\x01"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (float("nan"), "NaN"),
        (float("inf"), "infinity"),
        (Decimal("1E-131"), "1E-130"),
        (Decimal("1E+126"), "9.99"),
        (10**38 + 1, "38 significant digits"),
        ([1], "strings, numbers or booleans, not list"),
        (b"x", "not bytes"),
        (None, "not NoneType"),
    ],
)
def test_values_that_cannot_be_index_keys(value: Any, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule.replace(".", r"\.")):
        encode_sort_value(value)


# --- partition values, item keys, sparse ------------------------------------------------------

titles = st.one_of(
    st.sampled_from(["PERSON", "PERSON\x01", "PERSO", "A\x01SB"]), st.text(max_size=6)
)


@given(titles, st.lists(values, max_size=3), titles, st.lists(values, max_size=3))
def test_partition_values_never_mix_types_or_values(
    t1: str, v1: list[Any], t2: str, v2: list[Any]
) -> None:
    same = t1 == t2 and [oracle(v) for v in v1] == [oracle(v) for v in v2]
    assert (partition_value(t1, v1) == partition_value(t2, v2)) == same


GSI1 = IndexSpec("GSI1", partition=("gender",), sort=("age", "name"))


def test_index_key_values_of_an_item() -> None:
    item = {"gender": "female", "age": 18, "name": "Jeanne", "other": [1]}
    assert index_key_values("PERSON", GSI1, item) == {
        "GSI1PK": "PERSON\x01Sfemale\x01",
        "GSI1SK": "N213118\x01SJeanne\x01",
    }
    by_type = IndexSpec("BYAGE", partition=(), sort=("age",))
    assert index_key_values("PERSON", by_type, item) == {
        "BYAGEPK": "PERSON\x01",
        "BYAGESK": "N213118\x01",
    }
    assert index_attributes("PERSON", [GSI1, by_type], {"age": 5}) == {
        "BYAGEPK": "PERSON\x01",
        "BYAGESK": "N21305\x01",
    }


@pytest.mark.parametrize("missing", ["gender", "age", "name"])
def test_an_item_lacking_an_index_attribute_is_not_in_the_index(missing: str) -> None:
    item = {"gender": "female", "age": 18, "name": "Jeanne"}
    assert index_key_values("PERSON", GSI1, {k: v for k, v in item.items() if k != missing}) is None
    assert index_key_values("PERSON", GSI1, {**item, missing: None}) is None
    assert index_attributes("PERSON", [GSI1], {**item, missing: None}) == {}


def test_bad_index_values_name_the_attribute_and_the_index() -> None:
    with pytest.raises(ValidationError) as info:
        index_key_values("PERSON", GSI1, {"gender": "f", "age": [18], "name": "J"})
    assert info.value.path == "age"
    assert "index GSI1" in info.value.rule and "not list" in info.value.rule
    with pytest.raises(ValidationError) as info:
        index_key_values("PERSON", GSI1, {"gender": "f", "age": float("nan"), "name": "J"})
    assert info.value.path == "age" and "NaN" in info.value.rule


def test_keys_over_dynamodbs_size_limits_are_refused_before_writing() -> None:
    # 1024 bytes of sort key: "N21301" and "S" + the name, each followed by the separator
    fits = {"gender": "f", "age": 1, "name": "x" * (1024 - len("N21301\x01S\x01"))}
    assert len(utf8(index_key_values("P", GSI1, fits)["GSI1SK"])) == 1024  # type: ignore[index]
    with pytest.raises(ValidationError) as info:
        index_key_values("P", GSI1, {**fits, "name": fits["name"][1:] + "é"})  # type: ignore[operator]
    assert (
        info.value.path == "GSI1SK"
        and "1025 bytes" in info.value.rule
        and "1024" in info.value.rule
    )
    with pytest.raises(ValidationError) as info:
        index_key_values("P", GSI1, {**fits, "gender": "g" * 2048})
    assert info.value.path == "GSI1PK" and "2048" in info.value.rule


# --- key conditions on the encoded sort key -----------------------------------------------------


def holds(key: str, condition: KeyRange) -> bool:
    """A key condition as DynamoDB evaluates it: on UTF-8 bytes, BETWEEN inclusive."""
    k, operands = utf8(key), [utf8(o) for o in condition.operands]
    if condition.op == "=":
        return k == operands[0]
    if condition.op == "begins_with":
        return k.startswith(operands[0])
    assert condition.op == "between" and operands[0] <= operands[1]
    return operands[0] <= k <= operands[1]


small_strings = st.text(alphabet="\x00\x01\x02\x03ab~\uffff", max_size=3)
small_values = st.one_of(
    st.booleans(), st.integers(-3, 3), st.sampled_from([0.5, -0.5, 2.0, -1.25]), small_strings
)
range_ops = st.sampled_from(["<", "<=", ">", ">=", "between", "begins_with"])


@st.composite
def near(draw: st.DrawFn, anchor: Any) -> Any:
    """A value close to ``anchor``: itself, an equal number written otherwise, a string that
    extends it or that it extends, or anything small."""
    options = [st.just(anchor), small_values]
    if isinstance(anchor, str):
        options.append(small_strings.map(lambda s: anchor + s))
        options.append(st.integers(0, len(anchor)).map(lambda n: anchor[:n]))
    elif not isinstance(anchor, bool):
        options.append(st.just(float(anchor)))
    return draw(st.one_of(options))


@given(st.data(), st.lists(small_values, max_size=2), range_ops, st.integers(0, 2))
def test_range_conditions_select_exactly_what_the_raw_condition_selects(
    data: st.DataObject, prefix: list[Any], op: str, after: int
) -> None:
    if op == "between":
        low = data.draw(small_values)
        high = data.draw(near(low))
        if (
            isinstance(low, bool)
            or type(low) is not type(high)
            and not (
                isinstance(low, (int, float))
                and isinstance(high, (int, float))
                and not isinstance(high, bool)
            )
        ):
            assume(False)
        low, high = sorted([low, high], key=oracle)
        operand: Any = [low, high]
    else:
        operand = data.draw(small_values)
    condition = range_condition(prefix, op, operand)
    if isinstance(operand, bool) or (op == "begins_with" and not isinstance(operand, str)):
        assert condition is None  # no exact form: stays a filter
        return
    assert condition is not None
    anchor = operand[0] if op == "between" else operand
    for _ in range(8):
        head = [data.draw(near(p)) for p in prefix]
        value = data.draw(near(anchor))
        tail = data.draw(st.lists(small_values, min_size=after, max_size=after))
        key = encode_key([*head, value, *tail])
        expected = [oracle(v) for v in head] == [oracle(p) for p in prefix] and matches(
            {"x": value}, {"x": {op: operand}}
        )
        assert holds(key, condition) == expected, (head, value, tail)


@given(st.data(), st.lists(small_values, min_size=1, max_size=3), st.integers(0, 2))
def test_prefix_conditions_select_exactly_equal_leading_values(
    data: st.DataObject, prefix: list[Any], more: int
) -> None:
    total = len(prefix) + more
    condition = prefix_condition(prefix, total)
    assert condition is not None
    assert condition.op == ("=" if more == 0 else "begins_with")
    for _ in range(8):
        values = [data.draw(near(p)) for p in prefix] + data.draw(
            st.lists(small_values, min_size=more, max_size=more)
        )
        expected = [oracle(v) for v in values[: len(prefix)]] == [oracle(p) for p in prefix]
        assert holds(encode_key(values), condition) == expected


def test_no_prefix_no_condition_and_other_operators_have_no_range() -> None:
    assert prefix_condition([], 2) is None
    for op in ("=", "<>", "in", "contains", "exists"):
        assert range_condition([], op, 1) is None
    assert range_condition([], "between", [1, "a"]) is None  # two types: no one range
    assert range_condition([], ">", [1]) is None


def test_documented_bounds() -> None:
    p = "SF\x01"
    assert range_condition(["F"], ">=", 18) == KeyRange("between", (p + "N213118", p + "O"))
    assert range_condition(["F"], ">", 18) == KeyRange("between", (p + "N213118\x02", p + "O"))
    assert range_condition(["F"], "<=", "m") == KeyRange("between", (p + "S", p + "Sm\x02"))
    assert range_condition(["F"], "<", "m") == KeyRange("between", (p + "S", p + "Sm"))
    assert range_condition([], "begins_with", "Je") == KeyRange("begins_with", ("SJe",))
    assert SEPARATOR == "\x01"


# --- INDEXES ------------------------------------------------------------------------------------

PROPS = {"gender", "age", "name", "GSI2PK"}


def test_parse_indexes() -> None:
    specs = parse_indexes(
        {"GSI1": {"partition": ["gender"], "sort": ["age", "name"]}, "by.age": {"sort": ["age"]}},
        properties=PROPS,
        reserved=("PK", "SK"),
    )
    assert specs == {"GSI1": GSI1, "by.age": IndexSpec("by.age", (), ("age",))}
    assert specs["GSI1"].attributes == ("gender", "age", "name")


@pytest.mark.parametrize(
    ("indexes", "path", "rule"),
    [
        ([("GSI1", {})], "Person.INDEXES", "must be a dict"),
        ({"G1": {"sort": ["age"]}}, "Person.INDEXES['G1']", "3-255 characters"),
        ({"GSI 1": {"sort": ["age"]}}, "Person.INDEXES['GSI 1']", "3-255 characters"),
        ({"GSI1": ["age"]}, "Person.INDEXES['GSI1']", "'partition' and 'sort' only"),
        ({"GSI1": {"sort": ["age"], "project": "ALL"}}, "Person.INDEXES['GSI1']", "only"),
        ({"GSI1": {"sort": "age"}}, "Person.INDEXES['GSI1'].sort", "list of attribute names"),
        ({"GSI1": {"partition": [1], "sort": ["age"]}}, "Person.INDEXES['GSI1'].partition", "list"),
        ({"GSI1": {"partition": ["gender"]}}, "Person.INDEXES['GSI1'].sort", "at least one"),
        ({"GSI1": {"sort": ["height"]}}, "Person.INDEXES['GSI1']", "'height' is not a property"),
        ({"GSI1": {"partition": ["age"], "sort": ["age"]}}, "Person.INDEXES['GSI1']", "twice"),
        ({"GSI2": {"sort": ["age"]}}, "Person.INDEXES['GSI2']", "'GSI2PK' is already in use"),
        ({"PKX": {"sort": ["age"]}}, "Person.INDEXES['PKX']", "'PKXSK' is already in use"),
    ],
)
def test_bad_indexes_raise_schema_errors(indexes: Any, path: str, rule: str) -> None:
    with pytest.raises(SchemaError) as info:
        parse_indexes(indexes, properties=PROPS, reserved=("PK", "SK", "PKXSK"), owner="Person")
    assert info.value.path == path
    assert rule in info.value.rule
