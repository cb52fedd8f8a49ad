"""dynamore._where: checking ``where``, DynamoDB's semantics in ``matches``, canonical
fingerprints, compiled expressions that hold only placeholders, and (against DynamoDB Local)
compiled queries that select exactly what ``matches`` selects."""

from __future__ import annotations

import doctest
import itertools
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamore import _where
from dynamore._client import Client
from dynamore._indexkeys import IndexSpec, index_attributes, index_key_values
from dynamore._where import (
    MAX_IN_VALUES,
    OPERATORS,
    CompiledQuery,
    Condition,
    TableKeys,
    compile_where,
    fingerprint,
    matches,
    parse_where,
)
from dynamore.exceptions import UnsupportedTypeError, ValidationError
from tests import ddb_admin

PROPS = {
    "id": {"type": "string"},
    "gender": {"type": "string"},
    "age": {"type": "integer"},
    "name": {"type": "string"},
    "tags": {"type": "array"},
}
GSI1 = IndexSpec("GSI1", partition=("gender",), sort=("age", "name"))
PERSON = TableKeys("PERSON")


def compiled(where: Any, **options: Any) -> CompiledQuery:
    settings = {"properties": PROPS, "id_attribute": "id", "table": PERSON, **options}
    if "index" in options:
        settings.setdefault("indexes", {"GSI1": GSI1})
    return compile_where(where, **settings)


def expressions(q: CompiledQuery) -> tuple[str, Optional[str], dict[str, str], dict[str, Any]]:
    return q.key_condition, q.filter, q.names, q.values


def test_doctests() -> None:
    assert doctest.testmod(_where).failed == 0


# --- checking -----------------------------------------------------------------------------------


def test_parse_where_keeps_the_order_and_normalises_operands() -> None:
    assert parse_where(None) == parse_where({}) == ()
    assert parse_where(
        {"gender": "female", "age": {">=": 18, "between": [1, 99]}, "tags": {"in": ["a", "b"]}},
        properties=PROPS,
    ) == (
        Condition("gender", "=", "female"),
        Condition("age", ">=", 18),
        Condition("age", "between", (1, 99)),
        Condition("tags", "in", ("a", "b")),
    )
    # a map value is compared through "=": a dict is always the operator form
    assert parse_where({"meta": {"=": {"a": 1}}}) == (Condition("meta", "=", {"a": 1}),)


@pytest.mark.parametrize(
    ("where", "path", "rule"),
    [
        ([("age", 1)], "where", "must be a dict"),
        ({"": 1}, "where", "non-empty strings"),
        ({"height": 1}, "height", "is not a property of the entity's schema"),
        ({"age": {}}, "age", "needs at least one operator"),
        ({"age": {"==": 1}}, "age", "unknown operator '=='"),
        ({"age": {"<": True}}, "age", "'<' compares strings, numbers or bytes, not bool"),
        ({"age": {">=": None}}, "age", "'>=' compares strings, numbers or bytes, not NoneType"),
        ({"age": {">": [1]}}, "age", "'>' compares strings, numbers or bytes, not list"),
        ({"age": {"between": 5}}, "age", "'between' takes a list [low, high]"),
        ({"age": {"between": [1]}}, "age", "'between' takes [low, high], both strings"),
        ({"age": {"between": [1, 2, 3]}}, "age", "'between' takes [low, high]"),
        ({"age": {"between": [1, "2"]}}, "age", "both strings, both numbers or both bytes"),
        ({"age": {"between": [True, False]}}, "age", "both strings, both numbers or both bytes"),
        ({"age": {"between": [5, 1]}}, "age", "'between' takes [low, high] with low <= high"),
        ({"name": {"between": ["b", "a"]}}, "name", "with low <= high"),
        ({"name": {"begins_with": 1}}, "name", "'begins_with' takes a string or bytes, not int"),
        ({"tags": {"in": []}}, "tags", "'in' takes 1 to 100 values, not 0"),
        ({"tags": {"in": list(range(101))}}, "tags", "'in' takes 1 to 100 values, not 101"),
        ({"tags": {"in": "abc"}}, "tags", "'in' takes a list of values"),
        ({"tags": {"exists": 1}}, "tags", "'exists' takes True or False"),
        ({"age": float("nan")}, "age", "NaN is not a DynamoDB number"),
        ({"age": {"in": [1, float("inf")]}}, "age[1]", "infinity"),
        ({"age": {"between": [1, 10**39 + 1]}}, "age[1]", "38 significant digits"),
        ({"tags": {"contains": set()}}, "tags", "empty"),
    ],
)
def test_bad_where_names_the_attribute_and_the_operator(where: Any, path: str, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_where(where, properties=PROPS)
    assert info.value.path == path
    assert rule in info.value.rule


def test_operands_of_unsupported_types_raise_type_errors_with_the_path() -> None:
    with pytest.raises(UnsupportedTypeError) as info:
        parse_where({"tags": {"contains": [datetime(2020, 1, 1)]}})
    assert info.value.path == "tags[0]"
    assert MAX_IN_VALUES == 100 and "exists" in OPERATORS


# --- DynamoDB's semantics in Python (checked against the server below) -------------------------


@pytest.mark.parametrize(
    ("where", "selected"),
    [
        ({"a": 5}, {"num"}),
        ({"a": 5.0}, {"num"}),
        ({"a": Decimal("5.00")}, {"num"}),
        ({"a": True}, {"true"}),
        ({"a": 1}, set()),  # True is not 1
        ({"a": {"<>": 5}}, {"absent", "str", "list", "null", "set", "bytes", "true", "map"}),
        ({"a": None}, {"null"}),
        ({"a": {"<": "6"}}, {"str"}),  # strings only: 5 < "6" compares across types
        ({"a": {">=": 4}}, {"num"}),
        ({"a": {"between": [b"a", b"b"]}}, {"bytes"}),
        ({"a": {"begins_with": "5"}}, {"str"}),
        ({"a": {"begins_with": b""}}, {"bytes"}),
        ({"a": {"contains": "s"}}, {"list"}),  # an element of the list
        ({"a": {"contains": {"x": 1}}}, {"list"}),
        ({"a": {"contains": "y"}}, {"set"}),
        ({"a": {"contains": "5"}}, {"str"}),  # a substring
        ({"a": {"contains": b"bc"}}, {"bytes"}),
        ({"a": {"contains": "k"}}, set()),  # not the keys of a map
        ({"a": {"in": [5, None]}}, {"num", "null"}),
        ({"a": {"=": {"y", "x"}}}, {"set"}),
        ({"a": {"=": {"k": 1.0}}}, {"map"}),
        ({"a": {"exists": True}}, {"num", "str", "list", "null", "set", "bytes", "true", "map"}),
        ({"a": {"exists": False}}, {"absent"}),
        ({"a": {">": 1, "<": 9}}, {"num"}),
        ({"a": {">": 5, "<": 9}}, set()),
    ],
)
def test_matches(where: dict[str, Any], selected: set[str]) -> None:
    items = {
        "num": {"a": 5},
        "absent": {},
        "str": {"a": "5"},
        "list": {"a": [1, {"x": 1}, "s"]},
        "null": {"a": None},
        "set": {"a": {"x", "y"}},
        "bytes": {"a": b"abc"},
        "true": {"a": True},
        "map": {"a": {"k": 1}},
    }
    assert {name for name, item in items.items() if matches(item, where)} == selected
    assert {name for name, item in items.items() if matches(item, parse_where(where))} == selected


def test_fingerprint_is_canonical() -> None:
    a = {"age": {">=": 18, "<": 65}, "gender": "female", "tags": {"in": [1, "x", 1.0]}}
    b = {
        "tags": {"in": ["x", Decimal("1")]},
        "gender": {"=": "female"},
        "age": {"<": 65.0, ">=": 18},
    }
    assert fingerprint(a) == fingerprint(b) == fingerprint(parse_where(b))
    assert fingerprint(None) == fingerprint({}) == "[]"
    different = [
        {"age": {">=": 18}},
        {"age": {">": 18}},
        {"age": {">=": "18"}},
        {"age": {">=": 19}},
        {"name": {">=": 18}},
        {"age": {"between": [18, 20]}},
        {"age": {"between": [17, 20]}},
        {"age": {"exists": True}},
        {"age": {"exists": False}},
        {"age": True},
        {"age": 1},
        {"age": [1, 2]},
        {"age": [2, 1]},
        {"age": {"=": {"a": 2}}},
        {"age": {"=": {"a": 1}}},
    ]
    prints = [fingerprint(w) for w in different]
    assert len(set(prints)) == len(prints)


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(-3, 3), max_size=4))
def test_fingerprint_ignores_the_order_of_conditions(where: dict[str, int]) -> None:
    assert fingerprint(where) == fingerprint(dict(reversed(list(where.items()))))


# --- compilation --------------------------------------------------------------------------------


def test_a_plain_listing_is_the_partition() -> None:
    assert expressions(compiled(None)) == ("#w0 = :w0", None, {"#w0": "PK"}, {":w0": "PERSON"})
    q = compiled({"age": {">=": 18}, "gender": "female"})
    assert expressions(q) == (
        "#w0 = :w0",
        "#w1 >= :w1 AND #w2 = :w2",
        {"#w0": "PK", "#w1": "age", "#w2": "gender"},
        {":w0": "PERSON", ":w1": 18, ":w2": "female"},
    )
    assert q.index is None and q.key_attributes == ("PK", "SK")
    legacy = TableKeys("PERSON", sort_format="#{title}#{id}")
    assert compiled(None, table=legacy).key_condition == "#w0 = :w0 AND begins_with(#w1, :w1)"
    assert compiled(None, table=legacy).values == {":w0": "PERSON", ":w1": "#PERSON#"}


@pytest.mark.parametrize(
    ("where", "key", "values", "filter"),
    [
        ({"id": "42"}, "#w1 = :w1", ["42"], None),
        ({"id": {"begins_with": "4"}}, "begins_with(#w1, :w1)", ["4"], None),
        ({"id": {"between": ["1", "5"]}}, "#w1 BETWEEN :w1 AND :w2", ["1", "5"], None),
        ({"id": {"<": "5"}}, "#w1 < :w1", ["5"], None),
        ({"id": {">=": "5"}}, "#w1 >= :w1", ["5"], None),
        # the most selective id condition is the key; the others stay filters
        ({"id": {">": "1", "=": "3"}}, "#w1 = :w1", ["3"], "#w2 > :w2"),
        # an int never equals a string id, but the key reads the one candidate
        ({"id": 42}, "#w1 = :w1", ["42"], "#w2 = :w2"),
        ({"id": {"<>": "5"}}, None, [], "#w1 <> :w1"),
        # DynamoDB refuses "" as a key value: such conditions stay filters
        ({"id": {"begins_with": ""}}, None, [], "begins_with(#w1, :w1)"),
        ({"id": {"<": ""}}, None, [], "#w1 < :w1"),
        ({"id": {">=": ""}}, None, [], "#w1 >= :w1"),
        ({"id": {"between": ["", "5"]}}, None, [], "#w1 BETWEEN :w1 AND :w2"),
        ({"id": ""}, None, [], "#w1 = :w1"),
        ({"id": {"contains": "5"}}, None, [], "contains(#w1, :w1)"),
    ],
)
def test_id_conditions_on_the_table_become_sort_key_conditions(
    where: dict[str, Any], key: Optional[str], values: list[Any], filter: Optional[str]
) -> None:
    q = compiled(where)
    assert q.key_condition == "#w0 = :w0" + (f" AND {key}" if key else "")
    assert list(q.values.values())[1 : 1 + len(values)] == values
    assert q.filter == filter
    if key:
        assert q.names["#w1"] == "SK"


def test_id_conditions_with_dynamore_01s_sort_keys() -> None:
    legacy = TableKeys("PERSON", sort_format="#{title}#{id}")
    q = compiled({"id": {"between": ["1", "5"]}}, table=legacy)
    assert q.key_condition == "#w0 = :w0 AND #w1 BETWEEN :w1 AND :w2" and q.filter is None
    assert q.values == {":w0": "PERSON", ":w1": "#PERSON#1", ":w2": "#PERSON#5"}
    # a one-sided range would leave the prefix: the prefix is the key, the range a filter
    q = compiled({"id": {">": "5"}}, table=legacy)
    assert q.key_condition == "#w0 = :w0 AND begins_with(#w1, :w1)"
    assert q.filter == "#w2 > :w2" and q.names["#w2"] == "id"


def test_integer_ids_map_equality_only() -> None:
    props = {**PROPS, "id": {"type": "integer"}}
    q = compiled({"id": 42}, properties=props)
    assert q.key_condition == "#w0 = :w0 AND #w1 = :w1" and q.values[":w1"] == "42"
    assert q.filter is None
    q = compiled({"id": {">": 4}}, properties=props)  # "10" < "4" as text: no key range
    assert q.key_condition == "#w0 = :w0" and q.filter == "#w1 > :w1"


def test_index_queries() -> None:
    q = compiled({"gender": "female", "age": {">=": 18}, "name": {"<>": "x"}}, index="GSI1")
    assert q.index == "GSI1"
    assert q.key_attributes == ("PK", "SK", "GSI1PK", "GSI1SK")
    assert expressions(q) == (
        "#w0 = :w0 AND #w1 BETWEEN :w1 AND :w2",
        "#w2 <> :w3",
        {"#w0": "GSI1PK", "#w1": "GSI1SK", "#w2": "name"},
        {
            ":w0": "PERSON\x01Sfemale\x01",
            ":w1": "N213118",
            ":w2": "O",
            ":w3": "x",
        },
    )
    # equality on every attribute of the index: one key
    q = compiled({"gender": "male", "age": 30, "name": "Jo"}, index="GSI1")
    assert q.key_condition == "#w0 = :w0 AND #w1 = :w1" and q.filter is None
    assert q.values[":w1"] == "N21313\x01SJo\x01"
    # equality on a leading sort attribute, a string prefix on the next
    q = compiled({"gender": "male", "age": 30, "name": {"begins_with": "J"}}, index="GSI1")
    assert q.key_condition == "#w0 = :w0 AND begins_with(#w1, :w1)" and q.filter is None
    assert q.values[":w1"] == "N21313\x01SJ"
    # two ranges on one attribute: one BETWEEN, their intersection
    q = compiled({"gender": "male", "age": {">": 1, "<=": 9}}, index="GSI1")
    assert q.values == {
        ":w0": "PERSON\x01Smale\x01",
        ":w1": "N2130" + "1\x02",
        ":w2": "N2130" + "9\x02",
    }
    assert q.filter is None
    # ... unless they do not meet: the key holds the first, the filter the other
    q = compiled({"gender": "male", "age": {">": 9, "<": 1}}, index="GSI1")
    assert q.key_condition.endswith("BETWEEN :w1 AND :w2") and q.filter == "#w2 < :w3"
    # only the partition: every item of the partition, in (age, name) order
    q = compiled({"gender": "male", "name": "Jo"}, index="GSI1")
    assert q.key_condition == "#w0 = :w0" and q.filter == "#w1 = :w1"


def test_index_errors() -> None:
    with pytest.raises(ValidationError) as info:
        compiled({"age": 5}, index="GSI1")
    assert info.value.path == "gender" and "equality on each of its partition" in info.value.rule
    with pytest.raises(ValidationError) as info:
        compiled({"gender": {"in": ["male", "female"]}}, index="GSI1")
    assert info.value.path == "gender"
    with pytest.raises(ValidationError) as info:
        compiled({"gender": None}, index="GSI1")
    assert info.value.path == "gender"
    with pytest.raises(ValidationError) as info:
        compiled({}, index="GSI9")
    assert info.value.path == "index" and "'GSI9' is not an index of PERSON" in info.value.rule


# --- nothing a caller passes reaches the expressions -------------------------------------------

HOSTILE = ["#", ":", " ", ")", "(", " OR ", "#w0", ":w0", "a) OR (b", "x = :w0 OR 1", ",", "AND"]
hostile_text = st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=8))
TOKEN = re.compile(
    r"\s*(#w\d+|:w\d+|AND|BETWEEN|IN|=|<>|<=|>=|<|>|\(|\)|,|begins_with|contains"
    r"|attribute_exists|attribute_not_exists)"
)


def tokens(expression: str) -> list[str]:
    found, at = [], 0
    while at < len(expression):
        match = TOKEN.match(expression, at)
        assert match is not None, f"{expression[at:]!r} is not part of our grammar"
        found.append(match.group(1))
        at = match.end()
    return found


@st.composite
def hostile_conditions(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    where: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(names), unique=True, max_size=4)):
        op = draw(st.sampled_from(OPERATORS))
        text = draw(hostile_text)
        operand: Any = {
            "between": sorted([text, draw(hostile_text)]),
            "in": [text, draw(hostile_text)],
            "exists": draw(st.booleans()),
        }.get(op, text)
        where[name] = {op: operand} if draw(st.booleans()) or op != "=" else operand
    return where


@given(st.data(), st.lists(hostile_text, min_size=1, max_size=4, unique=True))
def test_names_and_values_only_ever_appear_in_the_maps(
    data: st.DataObject, names: list[str]
) -> None:
    properties = {name: {"type": "string"} for name in names}
    where = data.draw(hostile_conditions(names))
    index = IndexSpec("GSI1", partition=(names[0],), sort=tuple(names[1:]) or (names[0] + "x",))
    use_index = data.draw(st.booleans()) and isinstance(where.get(names[0]), str)
    properties[names[0] + "x"] = {}
    q = compile_where(
        where,
        properties=properties,
        id_attribute=data.draw(st.sampled_from(names)),
        table=TableKeys(data.draw(hostile_text)),
        index="GSI1" if use_index else None,
        indexes={"GSI1": index},
    )
    used = tokens(q.key_condition) + tokens(q.filter or "")
    # every placeholder is used (DynamoDB refuses unused ones) and defined
    assert {t for t in used if t[0] == "#"} == set(q.names)
    assert {t for t in used if t[0] == ":"} == set(q.values)
    assert set(q.names.values()) <= set(names) | {"PK", "SK", "GSI1PK", "GSI1SK"}


# --- against DynamoDB Local: the compiled query selects what matches() selects -------------------

POOL = [None, True, False, 0, 1, 2, -1, 0.5, -1.25, "", "a", "ab", "b", "a\x01", "é", b"", b"a"]
POOL += [[1, "a"], {"k": 1}, {"a", "b"}, {1, 2}]
INDEXABLE = [v for v in POOL if not isinstance(v, (bytes, list, dict, set))]  # and None: sparse
SCALARS = [v for v in POOL if isinstance(v, (str, int, float, bytes)) and not isinstance(v, bool)]
IDS = ["a", "ab", "b", "a\x01", "ba", "é", "0"]
MODEL = {n: {"type": "string"} if n == "id" else {} for n in ("id", "g", "b", "c", "d")}
INDEX = IndexSpec("GSI1", partition=("g",), sort=("b", "c"))


@pytest.fixture(scope="module")
def gsi_table(ddb_endpoint: str) -> Iterator[str]:
    """A table with the index GSI1 (GSI1PK, GSI1SK) next to PK and SK."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    keys = ("PK", "SK", "GSI1PK", "GSI1SK")
    ddb_admin.botocore_client(ddb_endpoint).create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "GSI1",
                "KeySchema": [
                    {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                    {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    try:
        yield name
    finally:
        ddb_admin.delete_table(ddb_endpoint, name)


@pytest.fixture(scope="module")
def module_client(ddb_endpoint: str) -> Iterator[Client]:
    with Client(endpoint_url=ddb_endpoint, region="us-east-1", credentials=("t", "t")) as c:
        yield c


@st.composite
def operands(draw: st.DrawFn, op: str, pool: list[Any] = POOL) -> Any:
    """An operand for ``op`` from ``pool``."""
    ordered = [v for v in pool if _where._kind(v) is not None]
    if op == "exists":
        return draw(st.booleans())
    if op in ("<", "<=", ">", ">="):
        return draw(st.sampled_from(ordered))
    if op == "between":
        low = draw(st.sampled_from(ordered))
        high = draw(st.sampled_from([v for v in ordered if _where._kind(v) == _where._kind(low)]))
        return sorted([low, high], key=_where._order_key)
    if op == "begins_with":
        return draw(st.sampled_from([v for v in ordered if _where._kind(v) in ("S", "B")]))
    if op == "in":
        return draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
    return draw(st.sampled_from(pool))


SORT_VALUES = [False, True, -1, 0.5, 1, 2, "", "a", "ab", "b"]  # few, so that conditions meet


@st.composite
def sort_conditions(draw: st.DrawFn, seen: list[Any]) -> dict[str, Any]:
    """Conditions on a sort attribute as queries hold them: equality, one range, or a lower
    and an upper bound; operands of one type, often values the items hold (``seen``)."""
    kinds = [_where._kind(v) for v in seen if _where._kind(v) in ("N", "S")]
    kind = draw(st.sampled_from(kinds * 3 + ["N", "S"]))
    pool = [v for v in seen * 5 + SORT_VALUES if _where._kind(v) == kind]
    low, high = sorted(
        draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2)), key=_where._order_key
    )
    shape = draw(st.sampled_from(["=", "one", "two"]))
    if shape == "=":
        return {"=": low}
    if shape == "two":
        return {draw(st.sampled_from([">", ">="])): low, draw(st.sampled_from(["<", "<="])): high}
    ops = ["<", "<=", ">", ">=", "between"] + (["begins_with"] if isinstance(low, str) else [])
    op = draw(st.sampled_from(ops))
    return {op: [low, high] if op == "between" else low}


@st.composite
def wheres(draw: st.DrawFn, *, index: bool, seen: list[Any] = []) -> dict[str, Any]:  # noqa: B006
    """Up to three attributes with one or two conditions each; for an index, equality on its
    partition attribute and mostly conditions on its sort attributes."""
    where: dict[str, Any] = {}
    names = ["b", "c"] * 4 + ["d", "id"] if index else list(MODEL)
    if index:
        where["g"] = draw(st.sampled_from(["a", "a", 1]))
    for name in draw(st.lists(st.sampled_from(names), unique=True, max_size=2 if index else 3)):
        if index and name in "bc":
            where[name] = draw(sort_conditions(seen))
            continue
        ops = draw(st.lists(st.sampled_from(OPERATORS), min_size=1, max_size=2, unique=True))
        where[name] = {op: draw(operands(op)) for op in ops}
    return where


def items(*, index: bool) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Up to 8 items with distinct ids; for an index, most of them in it."""
    present = st.sampled_from(SORT_VALUES)
    indexed = st.one_of(present, present, present, st.sampled_from(INDEXABLE))
    item = st.fixed_dictionaries(
        {
            "id": st.sampled_from(IDS),
            "g": st.sampled_from(["a", 1, None]),
            "b": indexed,
            "c": indexed,
        }
        if index
        else {"id": st.sampled_from(IDS)},
        optional={"d": st.sampled_from(POOL)}
        if index
        else {
            "g": st.sampled_from(["a", "b", 1, True, None]),
            "b": st.sampled_from(INDEXABLE),
            "c": st.sampled_from(INDEXABLE),
            "d": st.sampled_from(POOL),
        },
    )
    return st.lists(item, min_size=4 if index else 0, max_size=8, unique_by=lambda item: item["id"])


counter = itertools.count()


def store(client: Client, table: str, items: list[dict[str, Any]], keys: TableKeys) -> None:
    """Write ``items`` in a fresh partition, with their index keys."""
    for item in items:
        sort = keys.sort_format.format(title=keys.title, id=item["id"])
        stored = {**item, "PK": keys.title, "SK": sort}
        client.put_item(table, {**stored, **index_attributes(keys.title, [INDEX], item)})


def run(client: Client, table: str, q: CompiledQuery) -> list[dict[str, Any]]:
    return list(
        client.query_all(
            table,
            q.key_condition,
            names=q.names,
            values=q.values,
            index=q.index,
            filter=q.filter,
        )
    )


def fresh_title() -> str:
    return f"T{next(counter)}-{uuid.uuid4().hex[:6]}"  # a new partition per example


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=items(index=False),
    where=wheres(index=False),
    sort_format=st.sampled_from(["{id}", "#{title}#{id}"]),
)
def test_table_queries_select_what_matches_selects(
    module_client: Client,
    gsi_table: str,
    items: list[dict[str, Any]],
    where: dict[str, Any],
    sort_format: str,
) -> None:
    keys = TableKeys(fresh_title(), sort_format=sort_format)
    q = compile_where(where, properties=MODEL, id_attribute="id", table=keys)
    store(module_client, gsi_table, items, keys)
    found = run(module_client, gsi_table, q)
    expected = [item for item in items if matches(item, where)]
    assert sorted(i["id"] for i in found) == sorted(i["id"] for i in expected)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=items(index=True), data=st.data())
def test_index_queries_select_what_matches_selects_in_key_order(
    module_client: Client, gsi_table: str, items: list[dict[str, Any]], data: st.DataObject
) -> None:
    indexed = [i for i in items if index_key_values("T", INDEX, i) is not None]
    target = data.draw(st.sampled_from(indexed or items))  # conditions around one item's values
    where = data.draw(wheres(index=True, seen=[target["b"], target["c"]]))
    where["g"] = target["g"] if target["g"] is not None else where["g"]
    keys = TableKeys(fresh_title())
    q = compile_where(
        where,
        properties=MODEL,
        id_attribute="id",
        table=keys,
        index="GSI1",
        indexes={"GSI1": INDEX},
    )
    store(module_client, gsi_table, items, keys)
    found = run(module_client, gsi_table, q)
    expected = [
        item
        for item in items
        if index_key_values(keys.title, INDEX, item) is not None and matches(item, where)
    ]
    assert sorted(i["id"] for i in found) == sorted(i["id"] for i in expected)
    # in the order of the encoded sort key, which is the order of (b, c) (test_indexkeys)
    order = [i["GSI1SK"].encode() for i in found]
    assert order == sorted(order)


def test_index_key_conditions_select_exactly_on_the_server(
    module_client: Client, gsi_table: str
) -> None:
    """Every range on the first sort attribute, and every range on the second after equality
    on the first, over items holding every value: the key condition alone (no filter) finds
    exactly the matching items, in key order."""
    keys = TableKeys(fresh_title())
    seconds = [False, -1, 0.5, 2, "", "a", "ab", "a\x01", None]
    items = [
        {"id": f"{n}", "g": "a" if n % 5 else 1, "b": b, "c": c}
        for n, (b, c) in enumerate(itertools.product([*SORT_VALUES, "a\x01", None], seconds))
    ]
    store(module_client, gsi_table, items, keys)
    ordered = [v for v in SORT_VALUES + ["a\x01"] if _where._kind(v)]
    ranges: list[dict[str, Any]] = [{op: v} for op in ("<", "<=", ">", ">=") for v in ordered]
    ranges += [{"begins_with": v} for v in ordered if isinstance(v, str)]
    ranges += [
        {"between": [low, high]}
        for low, high in itertools.product(ordered, ordered)
        if _where._kind(low) == _where._kind(high)
        and _where._order_key(low) <= _where._order_key(high)
    ]
    ranges += [{">": 0.5, "<=": 2}, {">=": "", "<": "ab"}]
    wheres = [{"g": "a", "b": r} for r in ranges]
    wheres += [{"g": "a", "b": b, "c": r} for b in (True, 1, "a") for r in ranges]
    selected = []
    for where in wheres:
        q = compile_where(
            where,
            properties=MODEL,
            id_attribute="id",
            table=keys,
            index="GSI1",
            indexes={"GSI1": INDEX},
        )
        assert q.filter is None and " AND " in q.key_condition, where
        found = run(module_client, gsi_table, q)
        expected = [
            i for i in items if i["b"] is not None and i["c"] is not None and matches(i, where)
        ]
        assert sorted(i["id"] for i in found) == sorted(i["id"] for i in expected), where
        order = [i["GSI1SK"].encode() for i in found]
        assert order == sorted(order)
        selected.append(len(found))
    assert sum(0 < n < len(items) for n in selected) > len(selected) * 3 // 4  # they do select
