"""dynamore.codec: wire forms, round trips, boto3 as an oracle, and DynamoDB Local as the judge.

Pure tests need no server. The ``*_through_server`` tests write our wire form with a raw HTTP
request (stdlib ``http.client``, so nothing of dynamore's client or botocore's is involved) and read
it back the same way.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import doctest
import http.client
import json
import math
import os
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any, Optional
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dynamore import codec
from dynamore._protocol import dumps as wire_dumps
from dynamore.codec import (
    MAX_DEPTH,
    MAX_ITEM_BYTES,
    decode_item,
    decode_value,
    encode_item,
    encode_item_json,
    encode_value,
    item_decoder,
    item_size,
)
from dynamore.exceptions import DynamoreError, UnsupportedTypeError, ValidationError
from tests.kit import ROOT

MAX_N = Decimal("9.9999999999999999999999999999999999999E+125")


# --- strategies: every supported type, nested ---------------------------------------------------

ints = st.one_of(
    st.integers(-(10**38) + 1, 10**38 - 1),
    st.integers(-(2**64), 2**64),
    # up to 38 significant digits followed by zeros: DynamoDB keeps them all
    st.builds(lambda m, e: m * 10**e, st.integers(-(10**38) + 1, 10**38 - 1), st.integers(1, 87)),
)
floats = st.one_of(
    st.floats(min_value=1e-130, max_value=math.nextafter(1e126, 0)),
    st.floats(min_value=-math.nextafter(1e126, 0), max_value=-1e-130),
    st.sampled_from([0.0, -0.0, 1.0, 0.1, 1e16, 1e23, 1e-130, 2.0**63]),
)


@st.composite
def decimals(draw: st.DrawFn) -> Decimal:
    """Valid DynamoDB numbers as Decimals, some written with extra trailing zeros."""
    if draw(st.integers(0, 20)) == 0:
        return Decimal(draw(st.sampled_from(["0", "-0.00", "0E+5", "0E-200"])))
    n = draw(st.integers(1, 38))
    digits = [draw(st.integers(1, 9))] + draw(
        st.lists(st.integers(0, 9), min_size=n - 1, max_size=n - 1)
    )
    adjusted = draw(st.integers(-130, 125))  # power of ten of the leading digit
    zeros = draw(st.integers(0, 4))
    return Decimal((draw(st.integers(0, 1)), tuple(digits + [0] * zeros), adjusted - n + 1 - zeros))


names = st.text(min_size=1, max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    floats,
    st.text(),
    st.binary(),
    st.sets(st.text(), min_size=1, max_size=5),
    st.frozensets(ints, min_size=1, max_size=5),
    st.sets(floats, min_size=1, max_size=5),
    st.sets(st.binary(), min_size=1, max_size=5),
)


def nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.lists(children, max_size=3).map(tuple),
            st.dictionaries(names, children, max_size=5),
        ),
        max_leaves=20,
    )


values = nested(scalars)
decimal_values = nested(
    st.one_of(
        st.none(),
        st.booleans(),
        ints,
        decimals(),
        st.text(),
        st.sets(decimals(), min_size=1, max_size=4),
    )
)
items = st.dictionaries(names.filter(lambda k: k not in ("PK", "SK")), values, max_size=8)


# --- what decoding must give back, as documented in dynamore.codec -------------------------------


def expected(v: Any, *, use_decimal: bool = False) -> Any:
    """The documented result of ``decode(encode(v))``."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return Decimal(repr(v)) if use_decimal else v
    if isinstance(v, Decimal):
        if v == 0:
            return 0  # a zero Decimal is written as "0"
        text = str(v)
        if "." not in text and "e" not in text and "E" not in text:
            return int(v)
        return v if use_decimal else float(text)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, (list, tuple)):
        return [expected(x, use_decimal=use_decimal) for x in v]
    if isinstance(v, dict):
        return {k: expected(x, use_decimal=use_decimal) for k, x in v.items()}
    if isinstance(v, (set, frozenset)):
        return {expected(x, use_decimal=use_decimal) for x in v}
    raise AssertionError(f"no expectation for {type(v)}")


def strict(v: Any, *, by_value: bool = False) -> Any:
    """``v`` with every scalar tagged by its type, so that 1, 1.0 and True differ; with
    ``by_value``, numbers are tagged by their decimal value only (1 and 1.0 agree, as after
    DynamoDB rewrote "1.0" as "1"), a float by the value its repr denotes."""
    if isinstance(v, list):
        return ["list", [strict(x, by_value=by_value) for x in v]]
    if isinstance(v, dict):
        return ["dict", {k: strict(x, by_value=by_value) for k, x in v.items()}]
    if isinstance(v, (set, frozenset)):
        return ["set", frozenset(strict(x, by_value=by_value) for x in v)]
    if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
        if by_value:
            return ("number", Decimal(repr(v)) if isinstance(v, float) else Decimal(v))
        if isinstance(v, float) and v == 0.0:
            return ("float", 0.0)  # -0.0 and 0.0 are the same DynamoDB number
    return (type(v).__name__, v)


def assert_same(actual: Any, wanted: Any, *, by_value: bool = False) -> None:
    assert strict(actual, by_value=by_value) == strict(wanted, by_value=by_value), (
        f"{actual!r} != {wanted!r}"
    )


def json_trip(av: Any) -> Any:
    """What the other side of the wire sees: the JSON text, parsed again."""
    return json.loads(json.dumps(av))


def decode_in_place(av: Any, *, use_decimal: bool = False) -> Any:
    """``decode_value`` by way of the in-place item decoder (what a client's query pages use):
    ``av`` as the one attribute of a freshly parsed item, decoded where it lies."""
    wire = json_trip({"v": av})
    decoded = item_decoder(use_decimal=use_decimal, in_place=True)(wire)
    assert decoded is wire
    return decoded["v"]


# --- edge cases by name (issue 3) -----------------------------------------------------------------

EDGE_CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "zero": (0, {"N": "0"}),
    "negative zero float": (-0.0, {"N": "-0.0"}),
    "1e-130": (1e-130, {"N": "1e-130"}),
    "1E-130 decimal": (Decimal("1E-130"), {"N": "1E-130"}),
    "max number decimal": (MAX_N, {"N": "9.9999999999999999999999999999999999999E+125"}),
    "max number int": (int(MAX_N), {"N": str(int(MAX_N))}),
    "largest float": (math.nextafter(1e126, 0), {"N": "9.999999999999998e+125"}),
    "38 digits near 1E-130": (
        Decimal("1.2345678901234567890123456789012345678E-130"),
        {"N": "1.2345678901234567890123456789012345678E-130"},
    ),
    "zero with a tiny exponent": (Decimal("0E-200"), {"N": "0"}),
    "2**63": (2**63, {"N": "9223372036854775808"}),
    "38-digit int": (10**38 - 1, {"N": "9" * 38}),
    "negative 38-digit int": (-(10**38) + 1, {"N": "-" + "9" * 38}),
    "10**40": (10**40, {"N": "1" + "0" * 40}),
    "0.1": (0.1, {"N": "0.1"}),
    "1e16": (1e16, {"N": "1e+16"}),
    "integral float": (1.0, {"N": "1.0"}),
    "empty string": ("", {"S": ""}),
    "empty list": ([], {"L": []}),
    "empty map": ({}, {"M": {}}),
    "unicode": ({"clé": "välue ñ 日本"}, {"M": {"clé": {"S": "välue ñ 日本"}}}),
    "astral plane": ({"🔑": "𝄞 😀"}, {"M": {"🔑": {"S": "𝄞 😀"}}}),
    "nested empty containers": (
        [[], {}, [[]], {"a": {}}],
        {"L": [{"L": []}, {"M": {}}, {"L": [{"L": []}]}, {"M": {"a": {"M": {}}}}]},
    ),
    "every byte value": (bytes(range(256)), {"B": base64.b64encode(bytes(range(256))).decode()}),
    "empty bytes": (b"", {"B": ""}),
    "bool": (True, {"BOOL": True}),
    "none": (None, {"NULL": True}),
    "string set": ({"a"}, {"SS": ["a"]}),
    "number set": (frozenset([7]), {"NS": ["7"]}),
    "binary set": ({b"\x00"}, {"BS": ["AA=="]}),
}


@pytest.mark.parametrize("name", EDGE_CASES)
def test_edge_case_wire_form_and_round_trip(name: str) -> None:
    value, wire = EDGE_CASES[name]
    assert encode_value(value) == wire
    assert_same(decode_value(json_trip(wire)), expected(value))
    assert_same(decode_value(json_trip(wire), use_decimal=True), expected(value, use_decimal=True))


def test_edge_cases_through_server(table: str, raw: RawDynamo) -> None:
    item = {f"a{i}": value for i, (value, _) in enumerate(EDGE_CASES.values())}
    raw.put(table, {"PK": "edge", "SK": "0", **item})
    back = raw.get(table, "edge", "0")
    assert back is not None
    # by value: the server may write a number back in another form ("1.0" -> "1"); exact
    # values need use_decimal (a 38-digit number is no float)
    decoded = decode_item(back, use_decimal=True)
    for i, (name, (value, _)) in enumerate(EDGE_CASES.items()):
        wanted = strict(expected(value, use_decimal=True), by_value=True)
        assert strict(decoded[f"a{i}"], by_value=True) == wanted, name


# --- the wire form of each type, and the decode rules ---------------------------------------------


class Color(IntEnum):
    RED = 1


class Kind(str, Enum):
    USER = "user"


def every_type_item() -> dict[str, Any]:
    """One attribute of each type encode_item takes, subclasses and other mappings included."""
    return {
        "s": "x",
        "i": -42,
        "f": 2.5,
        "d": Decimal("1.50"),
        "t": True,
        "n": None,
        "b": b"\x01\x02",
        "ba": bytearray(b"\xff"),
        "mv": memoryview(b"abc"),
        "l": [1, "a"],
        "tu": ("a",),
        "m": {"k": False},
        "ss": frozenset(["only"]),
        "ns": {1.5},
        "bs": {b"z"},
        "enum": Color.RED,
        "strenum": Kind.USER,
        "od": collections.OrderedDict(a=1),
        "proxy": types.MappingProxyType({"p": 1}),
    }


def test_wire_form_of_each_type() -> None:
    item = every_type_item()
    assert encode_item(item) == {
        "s": {"S": "x"},
        "i": {"N": "-42"},
        "f": {"N": "2.5"},
        "d": {"N": "1.50"},
        "t": {"BOOL": True},
        "n": {"NULL": True},
        "b": {"B": "AQI="},
        "ba": {"B": "/w=="},
        "mv": {"B": "YWJj"},
        "l": {"L": [{"N": "1"}, {"S": "a"}]},
        "tu": {"L": [{"S": "a"}]},
        "m": {"M": {"k": {"BOOL": False}}},
        "ss": {"SS": ["only"]},
        "ns": {"NS": ["1.5"]},
        "bs": {"BS": ["eg=="]},
        "enum": {"N": "1"},
        "strenum": {"S": "user"},
        "od": {"M": {"a": {"N": "1"}}},
        "proxy": {"M": {"p": {"N": "1"}}},
    }
    wire = encode_item(item)
    assert type(wire["strenum"]["S"]) is str
    json.dumps(wire)  # ready for the wire as it is


@pytest.mark.parametrize("in_place", [False, True])
def test_decode_rules(in_place: bool) -> None:
    decode = decode_in_place if in_place else decode_value
    assert_same(decode({"N": "12"}), 12)
    assert_same(decode({"N": "-12"}), -12)
    assert_same(decode({"N": "1.5"}), 1.5)
    assert_same(decode({"N": "1e+16"}), 1e16)
    assert_same(decode({"N": "1E-7"}), 1e-7)
    assert_same(decode({"N": "1.5"}, use_decimal=True), Decimal("1.5"))
    assert_same(decode({"N": "12"}, use_decimal=True), 12)
    assert_same(
        decode({"N": "0.1000000000000000000000000000000000001"}, use_decimal=True),
        Decimal("0.1000000000000000000000000000000000001"),
    )
    assert_same(decode({"S": "é"}), "é")
    assert_same(decode({"B": "AAE="}), b"\x00\x01")
    assert_same(decode({"SS": ["a", "b"]}), {"a", "b"})
    assert_same(decode({"NS": ["1", "2.5"]}), {1, 2.5})
    assert_same(decode({"NS": ["2.5"]}, use_decimal=True), {Decimal("2.5")})
    assert_same(decode({"BS": ["AA=="]}), {b"\x00"})
    assert_same(decode({"NULL": True}), None)
    assert_same(decode({"BOOL": False}), False)
    assert_same(decode({"BOOL": True}), True)
    assert_same(decode({"L": [{"M": {"x": {"L": []}}}]}), [{"x": []}])
    assert_same(
        decode({"M": {"a": {"L": [{"N": "1"}, {"L": [{"S": "s"}, {"NULL": True}]}]}}}),
        {"a": [1, ["s", None]]},
    )
    assert_same(decode_item({"a": {"N": "1"}, "b": {"S": "s"}}), {"a": 1, "b": "s"})


def test_the_in_place_decoder_reuses_the_wire_containers() -> None:
    wire = json_trip(
        {"a": {"M": {"b": {"L": [{"N": "1"}, {"M": {}}]}}}, "s": {"SS": ["x"]}, "n": {"N": "2"}}
    )
    inner_map, inner_list = wire["a"]["M"], wire["a"]["M"]["b"]["L"]
    decoded = item_decoder(in_place=True)(wire)
    assert decoded is wire and decoded["a"] is inner_map and decoded["a"]["b"] is inner_list
    assert_same(decoded, {"a": {"b": [1, {}]}, "s": {"x"}, "n": 2})
    # Anything that held no wire form keeps the usual decoder's answer: new containers.
    fresh = json_trip({"a": {"M": {}}})
    assert item_decoder()(fresh)["a"] is not fresh["a"]["M"]


def test_integral_floats_come_back_as_ints_after_the_server(table: str, raw: RawDynamo) -> None:
    """The documented rule: DynamoDB normalises numbers, so a float whose repr is integral may
    come back as the int that repr denotes; float() of it is always the float that was written.
    DynamoDB Local does so for an item's own numbers, and keeps the text inside lists and maps."""
    floats_ = [1.0, -3.0, 1e16, 1e23, 2.0**63, 1e125, 0.5, 1e-130, -0.0, 123.456]
    raw.put(
        table, {"PK": "f", "SK": "0", "l": floats_, **{f"f{i}": f for i, f in enumerate(floats_)}}
    )
    back = raw.get(table, "f", "0")
    assert back is not None
    decoded = decode_item(back)
    got = [decoded[f"f{i}"] for i in range(len(floats_))]
    # 2.0**63 is written as its repr "9.223372036854776e+18", and comes back as that number
    assert got == [1, -3, 10**16, 10**23, 9223372036854776000, 10**125, 0.5, 1e-130, 0, 123.456]
    assert [type(x) for x in got] == [int] * 6 + [float, float, int, float]
    assert [float(x) for x in got] == floats_  # float(decoded) == f, always
    assert got[3] != 1e23  # the float 1e23 is 99999999999999991611392, not 10**23
    assert_same(decoded["l"], floats_)  # kept as sent inside a list: no type changes


def test_encoded_item_shares_no_container_with_the_input() -> None:
    item = {"l": [1], "m": {"a": "b"}}
    wire = encode_item(item)
    wire["l"]["L"].append({"N": "2"})
    wire["m"]["M"].clear()
    assert item == {"l": [1], "m": {"a": "b"}}


# --- properties -----------------------------------------------------------------------------------


@given(values)
def test_round_trip_property(value: Any) -> None:
    wire = json_trip(encode_value(value))
    assert_same(decode_value(wire), expected(value))
    assert_same(decode_in_place(wire), expected(value))


@given(decimal_values)
def test_round_trip_property_with_decimals(value: Any) -> None:
    wire = json_trip(encode_value(value))
    assert_same(decode_value(wire, use_decimal=True), expected(value, use_decimal=True))
    assert_same(decode_value(wire), expected(value))
    assert_same(decode_in_place(wire, use_decimal=True), expected(value, use_decimal=True))
    assert_same(decode_in_place(wire), expected(value))


@given(items)
def test_item_round_trip_property(item: dict[str, Any]) -> None:
    wire = json_trip(encode_item(item))
    assert_same(decode_item(wire), expected(item))
    assert_same(item_decoder(in_place=True)(wire), expected(item))


@given(items)
def test_size_bound_is_an_upper_bound(item: dict[str, Any]) -> None:
    # encode_item skips item_size while 4 * units stays under the limit: units must bound it
    _, units = codec._enc_map(item, 0)
    assert 4 * units >= item_size(item)
    # encode_item_json skips it while its text is at most a quarter of the limit
    assert 4 * len(encode_item_json(item)) >= item_size(item)


# --- encode_item_json: the same walk, written as JSON text ----------------------------------------


@contextlib.contextmanager
def fresh_plans() -> Iterator[None]:
    """encode_item_json with no plan made yet (and the process's own plans back afterwards)."""
    saved = codec._PLANS, codec._VARIANTS, codec._SEEN
    codec._PLANS, codec._VARIANTS, codec._SEEN = {}, {}, {}
    try:
        yield
    finally:
        codec._PLANS, codec._VARIANTS, codec._SEEN = saved


def assert_json_text_agrees(item: dict[str, Any]) -> None:
    """encode_item_json writes exactly the client's JSON of encode_item's result: walked the
    first time, by the plans made for its maps' layouts the next times."""
    expected = wire_dumps(encode_item(item))
    with fresh_plans():
        assert [encode_item_json(item) for _ in range(3)] == [expected] * 3


@given(items)
def test_json_text_is_the_clients_json_of_encode_item(item: dict[str, Any]) -> None:
    assert_json_text_agrees(item)


@given(st.dictionaries(names, decimal_values, max_size=8))
def test_json_text_of_decimal_items(item: dict[str, Any]) -> None:
    assert_json_text_agrees(item)


def test_json_text_of_every_type_and_edge_case() -> None:
    item = {f"a{i}": value for i, (value, _) in enumerate(EDGE_CASES.values())}
    item.update(every_type_item())
    item[Kind.USER] = [Kind.USER, Color.RED, ("t", {"x"}), collections.OrderedDict(o=b"\x00")]
    item["escapes"] = {'q"\\\n\t\x00\x7f': 'q"\\\n\t\x00\x7f\u2028é😀'}
    assert_json_text_agrees(item)
    assert json.loads(encode_item_json(item)) == json_trip(encode_item(item))


# --- encode_item_json's plans: the walk's text and errors, made only for repeated layouts ------


def expected_json(item: dict[str, Any]) -> str:
    return wire_dumps(encode_item(item))


def test_one_item_makes_no_plan_and_the_second_one_does() -> None:
    item = {"id": "a", "meta": {"n": 1, "tags": ["x", {"deep": True}]}, "rows": [{"i": 1}]}
    with fresh_plans():
        encode_item_json(item)
        assert codec._PLANS == {}  # a Lambda writing one item compiles nothing
        assert encode_item_json(item) == expected_json(item)
        assert set(codec._PLANS) == {("id", "meta", "rows"), ("n", "tags"), ("deep",), ("i",)}
        assert encode_item_json(item) == expected_json(item)


ONE_ATTRIBUTE = [1, 2.5, "x", None, True, b"b", {"a"}, Decimal("1.5"), [1], {"m": 1}, (1,)]
ONE_ATTRIBUTE += [10**40, -1e-200, "", Kind.USER, Color.RED, collections.OrderedDict(o=1)]


def test_a_layout_gets_a_few_plans_for_its_value_types() -> None:
    with fresh_plans():
        for value in ONE_ATTRIBUTE * 2:  # the second round meets every plan made in the first
            item = {"n": value, "s": "same"}
            for _ in range(3):
                if value == -1e-200:  # no plan takes it: the walk refuses it
                    with pytest.raises(ValidationError, match="n: nonzero number magnitude"):
                        encode_item_json(item)
                else:
                    assert encode_item_json(item) == expected_json(item), value
        assert codec._VARIANTS[("n", "s")] == codec._PLAN_VARIANTS


def test_errors_through_a_plan_are_the_walks() -> None:
    good = {"a": {"x": 1.5, "l": [1]}, "b": 1}
    bad: list[tuple[dict[str, Any], str, str]] = [
        ({"a": {"x": math.nan, "l": [1]}, "b": 1}, "a.x", "NaN"),
        ({"a": {"x": 1.5, "l": [1]}, "b": 10**40 + 1}, "b", "38 significant"),
        ({"a": {"x": 1.5, "l": [1, [1j]]}, "b": 1}, "a.l[1][0]", "complex"),
        ({"a": {"x": 1.5, "l": [set()]}, "b": 1}, "a.l[0]", "empty set"),
        ({"a": {"x": math.inf, "l": [1j]}, "b": 1}, "a.x", "infinity"),  # the first in order
    ]
    with fresh_plans():
        for _ in range(3):
            assert encode_item_json(good) == expected_json(good)
        assert ("a", "b") in codec._PLANS and ("x", "l") in codec._PLANS
        for item, path, rule in bad:
            for _ in range(3):
                with pytest.raises(DynamoreError) as info:
                    encode_item_json(item)
                assert info.value.path == path  # type: ignore[attr-defined]
                assert rule in str(info.value)


def test_a_plan_writes_no_map_past_the_depth_limit() -> None:
    # the walk never learns a map past the limit, so a plan can only come from a shallow one
    too_deep = {"d": deep(MAX_DEPTH, kind="M")}  # the map holding "x" sits at level 32
    in_a_list = {"d": deep(MAX_DEPTH - 1, {"a": "x"})}  # the same, as a list's element
    with fresh_plans():
        for _ in range(3):
            assert encode_item_json({"a": "x"}) == expected_json({"a": "x"})
            assert encode_item_json({"a": {"a": 1}}) == expected_json({"a": {"a": 1}})
        for item, path in [(too_deep, "d" + ".a" * 31), (in_a_list, "d" + "[0]" * 31)]:
            for _ in range(3):
                with pytest.raises(ValidationError, match="deeper") as info:
                    encode_item_json(item)
                assert info.value.path == path
        deepest = {"d": deep(MAX_DEPTH - 1, kind="M")}  # one level less: written by the plans
        assert encode_item_json(deepest) == expected_json(deepest)


HOSTILE_NAMES = ['"', "\\", "{K1}", "}", "{", "\n", "\x00", "é", "\U0001f600", "a b", "N0", "_esc"]
HOSTILE_NAMES += ["__import__('os').system('false')", '"); raise SystemExit("', "v0", "at", "m"]
HOSTILE_NAMES += ["p", "layout"]  # the generated code's own variables


def test_names_are_data_in_a_plan_never_code() -> None:
    item = {name: [i, {name: name}] for i, name in enumerate(HOSTILE_NAMES)}
    with fresh_plans():
        assert [encode_item_json(item) for _ in range(3)] == [expected_json(item)] * 3
        plan = codec._PLANS[tuple(HOSTILE_NAMES)]
        code = plan.__code__
        assert all(name.isidentifier() for name in code.co_names)
        assert not set(HOSTILE_NAMES) & {c for c in code.co_consts if isinstance(c, str)}


def test_plans_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "_MAX_PLANS", 2)
    monkeypatch.setattr(codec, "_MAX_SEEN", 3)
    items = [{f"k{i}": i, "v": "x"} for i in range(6)]
    with fresh_plans():
        for _ in range(3):  # round robin: the count starts over before any layout is seen twice
            for item in items:
                assert encode_item_json(item) == expected_json(item)
                assert len(codec._SEEN) <= 3
        assert codec._PLANS == {}
        for item in items:
            for _ in range(3):
                assert encode_item_json(item) == expected_json(item)
        assert list(codec._PLANS) == [tuple(item) for item in items[:2]]  # the others walk


class Name(str):
    """A str subclass as a map key: written as its plain value."""


def test_what_plans_leave_to_the_walk() -> None:
    wide = {f"k{i}": i for i in range(codec._PLAN_NAMES + 1)}
    others = [
        collections.OrderedDict(a=1, b="x"),
        types.MappingProxyType({"a": 1, "b": "x"}),
        {"m": wide},
        {Name("a"): 1, Name("b"): "x"},  # no plan for such names...
    ]
    with fresh_plans():
        for item in others:
            for _ in range(3):
                assert encode_item_json(item) == expected_json(item)
        assert set(codec._PLANS) == {("m",), ("a", "b")}  # none for the wide map
        assert codec._PLANS["a", "b"] is codec._decline  # ...and no more tries for such names
    with fresh_plans():
        for _ in range(3):
            encode_item_json({"a": 1, "b": "x"})
        # ...but the plan of plain names that are equal writes them the same
        assert encode_item_json(others[3]) == expected_json(others[3])


def test_plans_are_made_and_used_by_many_threads_at_once() -> None:
    layouts = [("id", "n"), ("id", "n", "m"), ("x",), ("id", "tags", "when")]
    values: list[Any] = [1, 2.5, "s", None, True, [1, "a"], {"k": 1}, {"a", "b"}, b"\x01"]
    items = [
        {name: values[(i * 7 + j * 3) % len(values)] for j, name in enumerate(layout)}
        for i in range(40)
        for layout in layouts
    ]
    expected = [expected_json(item) for item in items]
    failures: list[int] = []

    def encode_all(offset: int) -> None:
        for n in range(5):
            for i in range(len(items)):
                k = (i + offset * 13 + n) % len(items)
                if encode_item_json(items[k]) != expected[k]:
                    failures.append(k)

    with fresh_plans():
        threads = [threading.Thread(target=encode_all, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert set(codec._PLANS) >= set(layouts)


# --- boto3 as an oracle ---------------------------------------------------------------------------


class Boto3Oracle:
    """boto3's TypeSerializer/TypeDeserializer, with botocore's JSON handling of the
    AttributeValue shape (base64 of B on the way out, back to bytes on the way in)."""

    def __init__(self) -> None:
        import botocore.parsers
        import botocore.serialize
        import botocore.session
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        model = botocore.session.get_session().get_service_model("dynamodb")
        self.shape = model.shape_for("AttributeValue")
        self.serializer = botocore.serialize.create_serializer("json", include_validation=False)
        self.parser = botocore.parsers.create_parser("json")
        self.type_serializer = TypeSerializer()
        self.type_deserializer = TypeDeserializer()

    def encode(self, value: Any) -> Any:
        body: dict[str, Any] = {}
        self.serializer._serialize(body, self.type_serializer.serialize(value), self.shape, "v")
        return body["v"]

    def decode(self, wire: Any) -> Any:
        return self.type_deserializer.deserialize(self.parser._parse_shape(self.shape, wire))


@pytest.fixture(scope="module")
def oracle() -> Boto3Oracle:
    return Boto3Oracle()


def as_boto3_input(v: Any) -> Any:
    """Deliberate difference 1, floats accepted: boto3 refuses floats, its users write
    Decimal(repr(f)), so that is what boto3 gets."""
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, (list, tuple)):
        return type(v)(as_boto3_input(x) for x in v)
    if isinstance(v, dict):
        return {k: as_boto3_input(x) for k, x in v.items()}
    if isinstance(v, (set, frozenset)):
        return type(v)(as_boto3_input(x) for x in v)
    return v


def boto3_refuses(v: Any) -> bool:
    """Deliberate difference 4: numbers DynamoDB stores and boto3's decimal context (precision
    38, Emin -128, traps on) refuses: more than 38 digits written, trailing zeros included
    (10**40), or a last digit below 1E-165 (38 digits near 1E-130, or zero as 0E-200)."""
    if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
        _, digits, exponent = Decimal(v).as_tuple()
        return len(digits) > 38 or exponent < -165
    if isinstance(v, (list, tuple, set, frozenset)):
        return any(boto3_refuses(x) for x in v)
    if isinstance(v, dict):
        return any(boto3_refuses(x) for x in v.values())
    return False


def wire_equal(ours: Any, theirs: Any) -> bool:
    """Wire forms equal, numbers compared by value and sets as sets."""
    if set(ours) != set(theirs) or len(ours) != 1:
        return False
    (tag, a), b = next(iter(ours.items())), next(iter(theirs.values()))
    if tag == "N":
        return Decimal(a) == Decimal(b)
    if tag == "NS":
        return sorted(map(Decimal, a)) == sorted(map(Decimal, b)) and len(a) == len(b)
    if tag in ("SS", "BS"):
        return sorted(a) == sorted(b)
    if tag == "L":
        return len(a) == len(b) and all(wire_equal(x, y) for x, y in zip(a, b))
    if tag == "M":
        return a.keys() == b.keys() and all(wire_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def from_boto3(v: Any, wire: Any, use_decimal: bool) -> Any:
    """Deliberate differences 2 and 3 in reading: boto3 gives Decimal for every N where we give
    int for text without ".", "e" or "E", else float (Decimal on request); and Binary for B
    where we give bytes. ``wire`` is the AttributeValue that boto3 read ``v`` from."""
    from boto3.dynamodb.types import Binary

    ((tag, x),) = wire.items()

    def number(d: Decimal, text: str) -> Any:
        if "." not in text and "e" not in text and "E" not in text:
            return int(d)
        return d if use_decimal else float(text)

    if tag == "N":
        return number(v, x)
    if tag == "NS":
        texts = {Decimal(t): t for t in x}
        return {number(d, texts[d]) for d in v}
    if isinstance(v, Binary):
        return bytes(v)
    if tag == "BS":
        return {bytes(b) for b in v}
    if tag == "L":
        return [from_boto3(e, w, use_decimal) for e, w in zip(v, x)]
    if tag == "M":
        return {k: from_boto3(e, x[k], use_decimal) for k, e in v.items()}
    return v


@given(st.one_of(values, decimal_values))
def test_wire_form_agrees_with_boto3(oracle: Boto3Oracle, value: Any) -> None:
    ours = encode_value(value)
    try:
        theirs = oracle.encode(as_boto3_input(value))
    except ArithmeticError:  # decimal.Rounded, Underflow, Clamped
        assert boto3_refuses(value)
        return
    assert wire_equal(ours, theirs), (ours, theirs)


@given(st.one_of(values, decimal_values))
def test_decode_agrees_with_boto3(oracle: Boto3Oracle, value: Any) -> None:
    wire = json_trip(encode_value(value))
    try:
        theirs = oracle.decode(wire)
    except ArithmeticError:  # boto3 cannot read every number DynamoDB stores, either
        assert boto3_refuses(value)
        return
    assert_same(decode_value(wire, use_decimal=True), from_boto3(theirs, wire, True))
    assert_same(decode_value(wire), from_boto3(theirs, wire, False))
    assert_same(decode_in_place(wire, use_decimal=True), from_boto3(theirs, wire, True))
    assert_same(decode_in_place(wire), from_boto3(theirs, wire, False))


def test_named_differences_from_boto3(oracle: Boto3Oracle) -> None:
    from boto3.dynamodb.types import Binary

    # 1. floats: boto3 refuses them, we write repr
    with pytest.raises(TypeError):
        oracle.encode(0.1)
    assert encode_value(0.1) == {"N": "0.1"}
    # 2./3. decoding: int/float (or Decimal on request) instead of Decimal; bytes, not Binary
    assert oracle.decode({"N": "5"}) == Decimal(5) and decode_value({"N": "5"}) == 5
    assert isinstance(oracle.decode({"B": "AA=="}), Binary)
    assert decode_value({"B": "AA=="}) == b"\x00"
    # 4. numbers DynamoDB stores (see the edge cases) that boto3's decimal context refuses
    for number in (
        10**40,
        Decimal("1.2345678901234567890123456789012345678E-130"),
        Decimal("0E-200"),
    ):
        assert boto3_refuses(number)
        with pytest.raises(ArithmeticError):
            oracle.encode(number)
        encode_value(number)
    # 5. boto3 sends what DynamoDB then refuses; we refuse before sending
    assert oracle.encode(set()) == {"NS": []}
    assert oracle.encode({True}) == {"NS": ["1"]}
    assert oracle.encode(Decimal("1E+126")) == {"N": "1E+126"}
    for value in (set(), {True}, Decimal("1E+126")):
        with pytest.raises(ValidationError):
            encode_value(value)


# --- every refusal: error type, path and rule -----------------------------------------------------


def deep(levels: int, inner: Any = "x", kind: str = "L") -> Any:
    """``levels`` lists (or maps) around ``inner``."""
    for _ in range(levels):
        inner = [inner] if kind == "L" else {"a": inner}
    return inner


_TWICE = [1j]  # one list, twice in the same list: the first place is the one named

REJECTED: list[tuple[str, dict[str, Any], type[Exception], str, str]] = [
    ("NaN", {"score": math.nan}, ValidationError, "score", "NaN"),
    ("infinity", {"meta": {"when": [1, 2, math.inf]}}, ValidationError, "meta.when[2]", "infinity"),
    ("-infinity", {"x": -math.inf}, ValidationError, "x", "infinity"),
    ("Decimal NaN", {"x": [Decimal("NaN")]}, ValidationError, "x[0]", "NaN"),
    ("Decimal sNaN", {"x": Decimal("sNaN")}, ValidationError, "x", "NaN"),
    ("Decimal infinity", {"x": Decimal("-Infinity")}, ValidationError, "x", "infinity"),
    ("10**40 + 1", {"n": 10**40 + 1}, ValidationError, "n", "38 significant digits"),
    ("39-digit int", {"n": 10**38 + 1}, ValidationError, "n", "38 significant digits"),
    ("39-digit decimal", {"n": Decimal("1." + "0" * 37 + "1")}, ValidationError, "n", "38 sig"),
    ("int too large", {"n": 10**126}, ValidationError, "n", "above"),
    ("huge int", {"n": -(10**5000)}, ValidationError, "n", "above"),
    ("float too large", {"n": 1e126}, ValidationError, "n", "above"),
    ("decimal too large", {"n": Decimal("1E+126")}, ValidationError, "n", "above"),
    ("float too small", {"n": [math.nextafter(1e-130, 0)]}, ValidationError, "n[0]", "below"),
    ("decimal too small", {"n": Decimal("-9.9E-131")}, ValidationError, "n", "below"),
    ("number in a set", {"s": {1, Decimal("1E+200")}}, ValidationError, "s", "above"),
    ("empty set", {"tags": set()}, ValidationError, "tags", "empty set"),
    ("empty frozenset", {"a": [{"b": frozenset()}]}, ValidationError, "a[0].b", "empty set"),
    ("mixed set", {"s": {"a", 1}}, ValidationError, "s", "only strings"),
    ("bytes and str set", {"s": {"a", b"a"}}, ValidationError, "s", "only strings"),
    ("bool set", {"s": {True}}, ValidationError, "s", "not bool"),
    ("none in set", {"s": {None, 1}}, ValidationError, "s", "not NoneType"),
    ("same number twice", {"s": {0.1, Decimal("0.1")}}, ValidationError, "s", "twice"),
    ("int key", {"m": {1: "x"}}, ValidationError, "m", "map key 1"),
    ("bytes key", {"m": {"a": {b"k": "x"}}}, ValidationError, "m.a", "map key b'k'"),
    ("tuple key", {("a",): 1}, ValidationError, "", "map key ('a',)"),
    ("empty key", {"m": {"": 1}}, ValidationError, "m", "empty attribute name"),
    ("empty name", {"": 1}, ValidationError, "", "empty attribute name"),
    ("too deep list", {"d": deep(MAX_DEPTH)}, ValidationError, "d" + "[0]" * 31, "deeper"),
    ("too deep map", {"d": deep(MAX_DEPTH, kind="M")}, ValidationError, "d" + ".a" * 31, "deeper"),
    (
        "too deep empty map",
        {"d": deep(MAX_DEPTH - 1, {}, "M")},
        ValidationError,
        "d" + ".a" * 31,
        "deeper",
    ),
    ("item over 400 KB", {"big": "x" * (MAX_ITEM_BYTES - 2)}, ValidationError, "", "400 KB"),
    ("datetime", {"when": datetime.datetime(2024, 1, 1)}, UnsupportedTypeError, "when", "datetime"),
    ("object", {"a": [1, {"b": object()}]}, UnsupportedTypeError, "a[1].b", "object"),
    ("one object twice", {"a": [[1], _TWICE, _TWICE]}, UnsupportedTypeError, "a[1][0]", "complex"),
    ("after an equal one", {"a": [[0.5], [0.5, math.nan]]}, ValidationError, "a[1][1]", "NaN"),
    ("complex", {"c": 1j}, UnsupportedTypeError, "c", "complex"),
    ("type", {"t": int}, UnsupportedTypeError, "t", "type"),
    ("range", {"r": range(3)}, UnsupportedTypeError, "r", "range"),
]


ENCODERS = pytest.mark.parametrize("encode", [encode_item, encode_item_json])


@ENCODERS
@pytest.mark.parametrize(
    ("item", "error", "path", "rule"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED]
)
def test_rejected(
    encode: Any, item: dict[str, Any], error: type[Exception], path: str, rule: str
) -> None:
    with fresh_plans():
        for _ in range(3):  # encode_item_json: walked, then through plans made on the way
            with pytest.raises(error) as info:
                encode(item)
            exc = info.value
            assert isinstance(exc, DynamoreError)
            assert isinstance(exc, ValueError if error is ValidationError else TypeError)
            assert exc.path == path  # type: ignore[attr-defined]
            assert rule in str(exc)
            if path:
                assert str(exc).startswith(f"{path}: ")


@ENCODERS
def test_limits_are_inclusive(encode: Any) -> None:
    encode({"d": deep(MAX_DEPTH - 1)})  # 31 lists, the string at level 32
    encode({"d": deep(MAX_DEPTH - 1, {"s"})})  # a set is no container
    encode({"d": deep(MAX_DEPTH - 2, {}, "M")})  # an empty map at level 31
    with pytest.raises(ValidationError, match="deeper"):
        encode({"d": deep(MAX_DEPTH)})
    encode_value(deep(MAX_DEPTH - 1))
    with pytest.raises(ValidationError):
        encode_value(deep(MAX_DEPTH))
    item = {"big": "x" * (MAX_ITEM_BYTES - 3)}
    assert item_size(item) == MAX_ITEM_BYTES
    encode(item)


@ENCODERS
def test_exact_size_is_computed_near_the_limit(encode: Any) -> None:
    # "é" is one code point and two UTF-8 bytes: the cheap bound passes the limit long before
    # the item does, and the exact size decides
    item = {"tt": "é" * ((MAX_ITEM_BYTES - 2) // 2)}
    assert item_size(item) == MAX_ITEM_BYTES
    encode(item)
    item["u"] = ""
    with pytest.raises(ValidationError, match="409601 bytes"):
        encode(item)
    # four UTF-8 bytes per code point, the most there is: the bound still catches it
    with pytest.raises(ValidationError, match="409601 bytes"):
        encode({"e": "\U0001f600" * (MAX_ITEM_BYTES // 4)})


def test_docstring_examples() -> None:
    assert doctest.testmod(codec).failed == 0


@ENCODERS
def test_recursive_structure_is_refused_not_a_recursion_error(encode: Any) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValidationError, match="deeper"):
        encode({"loop": loop})


@ENCODERS
def test_refused_top_level_values(encode: Any) -> None:
    with pytest.raises(UnsupportedTypeError):
        encode(["not", "a", "mapping"])
    with pytest.raises(UnsupportedTypeError, match="^date has no DynamoDB attribute type$"):
        encode_value(datetime.date.today())


def test_malformed_attribute_values_are_validation_errors() -> None:
    cases = [
        ({"X": "1"}, "", "unknown AttributeValue type 'X'"),
        ({"S": "a", "N": "1"}, "", "not a valid AttributeValue"),
        ({"M": {"a": {"L": [{"S": "ok"}, {"N": "x"}]}}}, "a[1]", "not a valid"),
        ({"L": [{"M": {"k": {}}}]}, "[0].k", "not a valid"),
    ]
    for av, path, rule in cases:
        with pytest.raises(ValidationError) as info:
            decode_value(av)
        assert info.value.path == path and rule in info.value.rule, (av, info.value)
        with pytest.raises(ValidationError) as info:
            decode_in_place(av)
        in_place_path = f"v{path}" if path.startswith("[") else "v." + path if path else "v"
        assert info.value.path == in_place_path and rule in info.value.rule, (av, info.value)
    for decode in (decode_item, item_decoder(in_place=True)):
        with pytest.raises(ValidationError) as info:
            decode({"a": {"M": {"b": {"Q": 1}}}})
        assert info.value.path == "a.b"
        with pytest.raises(ValidationError) as info:
            decode({"a": {"L": [{"S": "x"}, {"L": [{"N": "1"}, {"N": "1.2.3"}]}]}})
        assert info.value.path == "a[1][1]"


# --- item size: DynamoDB's rules, checked against DynamoDB Local's own limit ----------------------


def test_item_size_rules() -> None:
    assert item_size({"PK": "PERSON", "age": 123, "tags": ["a", "b"]}) == 25
    assert item_size({"a": "é"}) == 3  # UTF-8 bytes
    assert item_size({"é": "😀"}) == 6
    assert item_size({"a": b"xyz"}) == 4
    assert item_size({"a": None, "b": True}) == 4
    assert item_size({"a": [], "b": {}}) == 8
    assert item_size({"a": [[]]}) == 1 + 3 + 1 + 3
    assert item_size({"a": {"k": "v"}}) == 1 + 3 + 1 + 1 + 1
    assert item_size({"a": {"x", "yy"}, "b": {b"1", b"22"}}) == 1 + 3 + 1 + 3
    number_sizes = {
        0: 1,
        1: 2,
        12: 2,
        123: 3,
        -1: 3,
        100: 2,
        1.5: 3,
        0.001: 2,
        -0.5: 3,
        10**37: 2,
        10**38 - 1: 20,
        -(10**38 - 1): 21,
        Decimal("123.456"): 5,
        Decimal("1.2345678901234567890123456789012345678"): 21,
        Decimal("-1.2345678901234567890123456789012345678"): 21,
    }
    for number, size in number_sizes.items():
        assert item_size({"n": number}) == 1 + size, number


SIZE_PROBES: dict[str, Any] = {
    "numbers": [
        0,
        1,
        -1,
        12,
        1.5,
        -1.5,
        0.001,
        123.456,
        10**37,
        -(10**38 - 1),
        1e-130,
        1e125,
        Decimal("-1.2345678901234567890123456789012345678"),
        MAX_N,
    ],
    "unicode": {"é": "ñ日本😀", "𝄞": ["ü"]},
    "containers": {"l": [[], {}, [None, True]], "m": {"a": {"b": {}}}},
    "sets": [{"a", "bb"}, {1, -2.5}, {b"", b"xyz"}],
    "binary": b"\x00" * 100,
}


@pytest.mark.parametrize("name", SIZE_PROBES)
def test_item_size_matches_the_server_at_the_limit(name: str, table: str, raw: RawDynamo) -> None:
    """An item of exactly 400 KB by item_size is stored; one byte more is refused by the server
    (sent raw, past our own check) and by encode_item."""
    item = {"PK": "p", "SK": "s", "v": SIZE_PROBES[name], "pad": ""}
    item["pad"] = "x" * (MAX_ITEM_BYTES - item_size(item))
    assert item_size(item) == MAX_ITEM_BYTES
    assert raw.put(table, item) == 200
    item["pad"] += "x"
    assert raw.put_wire(table, codec._enc_map(item, 0)[0]) == 400
    with pytest.raises(ValidationError, match="409601 bytes"):
        encode_item(item)


# --- through the server: generated items, and nothing refused ever reaches it ---------------------


class RawDynamo:
    """DynamoDB's JSON protocol over ``http.client``: our wire form goes out byte for byte."""

    def __init__(self, endpoint: str) -> None:
        url = urlsplit(endpoint)
        self.conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
        self.requests = 0

    def close(self) -> None:
        self.conn.close()

    def call(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests += 1
        self.conn.request(
            "POST",
            "/",
            body=json.dumps(body, separators=(",", ":")),
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": f"DynamoDB_20120810.{operation}",
                "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/"
                "aws4_request, SignedHeaders=host, Signature=0",
            },
        )
        response = self.conn.getresponse()
        return response.status, json.loads(response.read())

    def put(self, table: str, item: dict[str, Any]) -> int:
        """Encode (which may refuse: then nothing is sent) and PutItem."""
        return self.put_wire(table, encode_item(item))

    def put_wire(self, table: str, wire: dict[str, Any]) -> int:
        return self.call("PutItem", {"TableName": table, "Item": wire})[0]

    def get(self, table: str, pk: str, sk: str) -> Optional[dict[str, Any]]:
        status, body = self.call(
            "GetItem",
            {
                "TableName": table,
                "Key": {"PK": {"S": pk}, "SK": {"S": sk}},
                "ConsistentRead": True,
            },
        )
        assert status == 200, body
        return body.get("Item")

    def batch_put(self, table: str, wires: list[dict[str, Any]]) -> None:
        for start in range(0, len(wires), 25):
            requests = [{"PutRequest": {"Item": w}} for w in wires[start : start + 25]]
            status, body = self.call("BatchWriteItem", {"RequestItems": {table: requests}})
            assert status == 200, body
            assert not body.get("UnprocessedItems"), body

    def scan(self, table: str) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        while True:
            status, body = self.call("Scan", request)
            assert status == 200, body
            yield from body["Items"]
            if "LastEvaluatedKey" not in body:
                return
            request["ExclusiveStartKey"] = body["LastEvaluatedKey"]


@pytest.fixture
def raw(ddb_endpoint: str) -> Iterator[RawDynamo]:
    conn = RawDynamo(ddb_endpoint)
    yield conn
    conn.close()


def collect(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """``n`` examples of ``strategy``, drawn by hypothesis (no I/O while it runs)."""
    out: list[Any] = []

    @settings(
        max_examples=n,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def draw(value: Any) -> None:
        out.append(value)

    draw()
    return out[:n]


def test_generated_items_through_server(table: str, raw: RawDynamo) -> None:
    """300 items of every type and 100 with Decimals, written in our wire form, read back by
    Scan: each decodes to what was written (numbers by value: the server may rewrite them)."""
    written = {f"{i:04d}": item for i, item in enumerate(collect(items, 300))}
    decimal_items = collect(
        st.dictionaries(names.filter(lambda k: k not in ("PK", "SK")), decimal_values, max_size=6),
        100,
    )
    written.update({f"d{i:04d}": item for i, item in enumerate(decimal_items)})
    raw.batch_put(
        table, [encode_item({"PK": "gen", "SK": sk, **item}) for sk, item in written.items()]
    )
    read = {av["SK"]["S"]: av for av in raw.scan(table)}
    assert read.keys() == written.keys()
    for sk, item in written.items():
        item = {"PK": "gen", "SK": sk, **item}
        back = decode_item(read[sk], use_decimal=True)
        assert_same(back, expected(item, use_decimal=True), by_value=True)
        if not sk.startswith("d"):  # floats read as floats: exact for what was a float
            assert_same(decode_item(read[sk]), expected(item), by_value=True)


def test_rejected_values_never_reach_the_server(table: str, raw: RawDynamo) -> None:
    for name, item, error, _, _ in REJECTED:
        with pytest.raises(error):
            raw.put(table, {"PK": "bad", "SK": name, **item})
    assert raw.requests == 0
    assert list(raw.scan(table)) == []


SERVER_REFUSES: dict[str, dict[str, Any]] = {
    "NaN": {"N": "NaN"},
    "infinity": {"N": "Infinity"},
    "10**40 + 1": {"N": str(10**40 + 1)},
    "39 digits": {"N": "1." + "0" * 37 + "1"},
    "1E+126": {"N": "1E+126"},
    "1E-131": {"N": "1E-131"},
    "empty string set": {"SS": []},
    "same number twice": {"NS": ["0.1", "0.10"]},
    "empty key": {"M": {"": {"S": "x"}}},
    "too deep": {"L": [encode_value(deep(MAX_DEPTH - 1))]},
    "too deep empty map": {"M": {"a": encode_value(deep(MAX_DEPTH - 2, {}, "M"))}},
}


def test_our_rules_are_the_servers(table: str, raw: RawDynamo) -> None:
    """Each refused wire form, sent raw past our checks, is refused by DynamoDB Local too; what
    sits just inside the limits is stored (numbers: see the edge cases; size: see above)."""
    for name, av in SERVER_REFUSES.items():
        wire = {"PK": {"S": "p"}, "SK": {"S": name}, "v": av}
        assert raw.put_wire(table, wire) == 400, name
    deepest = {"deep": deep(MAX_DEPTH - 1), "map": deep(MAX_DEPTH - 2, {}, "M")}
    assert raw.put(table, {"PK": "p", "SK": "deepest", **deepest}) == 200
    back = raw.get(table, "p", "deepest")
    assert back is not None
    assert decode_item(back) == {"PK": "p", "SK": "deepest", **deepest}


# -- canonical form -----------------------------------------------------------------------------


def test_canonical_item_equal_for_what_dynamodb_stores_the_same() -> None:
    sent = codec.encode_item(
        {
            "n": 3.0,
            "d": Decimal("19.90"),
            "e": Decimal("1E+2"),
            "t": (Decimal("1.10"), "EUR"),
            "ss": {"b", "a", "c"},
            "ns": {Decimal("1.50"), 2},
            "bs": {b"\x00", b"a"},
            "b": b"\xff",
            "m": {"x": [None, True], "y": {"z": 0.5}},
        }
    )
    # As DynamoDB may send it back: numbers normalised, sets in another order, keys reordered.
    back = {
        "m": {
            "M": {"y": {"M": {"z": {"N": "0.50"}}}, "x": {"L": [{"NULL": True}, {"BOOL": True}]}}
        },
        "b": {"B": base64.b64encode(b"\xff").decode()},
        "bs": {"BS": [base64.b64encode(b"a").decode(), "AA=="]},
        "ns": {"NS": ["2", "1.5"]},
        "ss": {"SS": ["c", "a", "b"]},
        "t": {"L": [{"N": "1.1"}, {"S": "EUR"}]},
        "e": {"N": "100"},
        "d": {"N": "19.9"},
        "n": {"N": "3"},
    }
    assert codec.canonical_item(sent) == codec.canonical_item(back)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"BOOL": True}, {"N": "1"}),  # equal in Python (True == 1), not in DynamoDB
        ({"S": "1"}, {"N": "1"}),
        ({"N": "0.1"}, {"N": "0.10000000000000001"}),  # the same float, not the same number
        ({"L": [{"N": "1"}, {"N": "2"}]}, {"L": [{"N": "2"}, {"N": "1"}]}),  # lists keep order
        ({"SS": ["a", "b"]}, {"SS": ["a"]}),
        ({"L": [{"S": "a"}]}, {"SS": ["a"]}),
        ({"M": {"a": {"NULL": True}}}, {"M": {}}),
        ({"B": "AA=="}, {"S": "AA=="}),
    ],
    ids=repr,
)
def test_canonical_item_tells_different_items_apart(one: Any, other: Any) -> None:
    assert codec.canonical_item({"v": one}) != codec.canonical_item({"v": other})


def test_canonical_item_names_a_malformed_attribute() -> None:
    with pytest.raises(ValidationError, match="v: unknown AttributeValue type 'X'"):
        codec.canonical_item({"ok": {"S": "x"}, "v": {"X": "1"}})


_LAZY_DECIMAL = r"""
import sys
from dynamore.codec import canonical_item, decode_item, encode_item, item_size

wire = encode_item({"s": "x", "n": 1, "f": 2.5, "l": [b"\x00", {"k": True}], "ss": {"a"}})
decode_item(wire)
print("decimal" in sys.modules)
# The first Decimal-needing call imports it, and gets Decimal's exact semantics.
print(decode_item({"w": {"N": "0.1"}}, use_decimal=True))
from decimal import Decimal

class Money(Decimal):
    pass

print(encode_item({"d": Money("1.50"), "ns": {Decimal("1"), 2.5}})["d"])
print(item_size({"d": Decimal("12.5")}), canonical_item({"n": {"N": "1.0"}}) == canonical_item(
    {"n": {"N": "1"}}))
"""


def test_decimal_is_imported_only_by_what_needs_it() -> None:
    # A fresh interpreter: the codec's ordinary paths never load decimal (a Lambda's cold path
    # does without it); each path that does need it loads it and behaves as before.
    done = subprocess.run(
        [sys.executable, "-S", "-c", _LAZY_DECIMAL],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "False",
        "{'w': Decimal('0.1')}",
        "{'N': '1.50'}",
        "4 True",
    ]
