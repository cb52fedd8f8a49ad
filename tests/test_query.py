"""DynamoDbProxy.query / iter against DynamoDB Local: pages that fill, cursors, indexes."""

from __future__ import annotations

import itertools
import tracemalloc
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamore import Client, QueryPage
from dynamore._query import _request_limit, check_limit
from dynamore._where import matches
from dynamore.dynamodb_proxy import DynamoDbProxy
from dynamore.entity import Entity
from dynamore.exceptions import InvalidCursor, SchemaError, ValidationError
from tests.kit import entity_table

#: Items of the seeded type; the filter ``group = 3`` keeps one in ten.
SEEDED = 10_000
#: Items of another type in the same table and the same index.
OTHERS = 200
KEY = b"0123456789abcdef-test-key"


class Person(Entity):
    SCHEMA = {
        "title": "PERSON",
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "gender": {"type": "string"},
            "age": {"type": "integer"},
            "name": {"type": "string"},
            "group": {"type": "integer"},
        },
        "required": ["id"],
        "additionalProperties": False,
    }
    ID_ATTRIBUTE = "id"
    INDEXES = {"GSI1": {"partition": ["gender"], "sort": ["age", "name"]}}


class Tag(Entity):
    """Another type in the same table, in the same index."""

    SCHEMA = {
        "title": "TAG",
        "type": "object",
        "properties": {"id": {"type": "string"}, "gender": {"type": "string"}},
        "required": ["id"],
    }
    ID_ATTRIBUTE = "id"
    INDEXES = {"GSI1": {"partition": ["gender"], "sort": ["id"]}}


def person(i: int) -> dict[str, Any]:
    return {
        "id": f"p{i:05d}",
        "gender": ("female", "male")[i % 2],
        "age": i % 50,
        "name": f"n{i:05d}",
        "group": i % 10,
    }


@pytest.fixture(scope="module")
def seeded(ddb_endpoint: str) -> Iterator[tuple[Client, str]]:
    """A table with the GSI, SEEDED persons and OTHERS tags, written with batch writes."""
    tags = (Tag({"id": f"t{i:04d}", "gender": "female"}) for i in range(OTHERS))
    people = (Person(person(i)) for i in range(SEEDED))
    with entity_table(ddb_endpoint, [Person, Tag], itertools.chain(people, tags)) as seeded:
        yield seeded


@pytest.fixture
def db(seeded: tuple[Client, str]) -> DynamoDbProxy:
    client, name = seeded
    return DynamoDbProxy(table_name=name, client=client, cursor_key=KEY)


def all_pages(db: DynamoDbProxy, limit: int, **query: Any) -> list[QueryPage]:
    pages = [db.query(entity_class=Person, limit=limit, **query)]
    while pages[-1].cursor is not None:
        pages.append(db.query(entity_class=Person, limit=limit, cursor=pages[-1].cursor, **query))
    return pages


def check_full_pages(pages: list[QueryPage], limit: int) -> None:
    assert all(len(page.items) == limit for page in pages[:-1])
    assert len(pages[-1].items) <= limit


@pytest.mark.parametrize("descending", [False, True])
def test_table_pages_fill_and_cover_every_match_in_order(
    db: DynamoDbProxy, descending: bool
) -> None:
    pages = all_pages(db, 37, where={"group": 3}, descending=descending)
    check_full_pages(pages, 37)
    got = [item for page in pages for item in page.items]
    expected = sorted((person(i) for i in range(SEEDED) if i % 10 == 3), key=lambda p: p["id"])
    assert got == (expected[::-1] if descending else expected)
    assert all("PK" not in item and "GSI1PK" not in item for item in got)


@pytest.mark.parametrize("descending", [False, True])
def test_index_pages_fill_and_follow_the_index_order(db: DynamoDbProxy, descending: bool) -> None:
    where = {"gender": "female", "age": {">=": 20}, "group": {"in": [2, 4]}}
    pages = all_pages(db, 37, where=where, index="GSI1", descending=descending)
    check_full_pages(pages, 37)
    got = [item for page in pages for item in page.items]
    expected = sorted(
        (p for p in map(person, range(SEEDED)) if matches(p, where)),
        key=lambda p: (p["age"], p["name"]),
    )
    assert len(expected) > 37 * 5
    assert got == (expected[::-1] if descending else expected)


def test_the_index_holds_only_its_entity_type(db: DynamoDbProxy) -> None:
    page = db.query(entity_class=Tag, where={"gender": "female"}, index="GSI1", limit=1000)
    assert [t["id"] for t in page.items] == [f"t{i:04d}" for i in range(OTHERS)]
    assert page.cursor is None


def test_a_cursor_is_none_only_when_the_data_ended(db: DynamoDbProxy) -> None:
    page = db.query(entity_class=Person, where={"id": {"begins_with": "p0000"}}, limit=10)
    assert [p["id"] for p in page.items] == [f"p{i:05d}" for i in range(10)]
    # Exactly ten match, but the tenth ended the read only if DynamoDB said so: at most one
    # more (empty) page, and it ends the listing.
    if page.cursor is not None:
        last = db.query(
            entity_class=Person,
            where={"id": {"begins_with": "p0000"}},
            limit=10,
            cursor=page.cursor,
        )
        assert last.items == [] and last.cursor is None


def test_tampered_and_foreign_cursors_are_refused(db: DynamoDbProxy, seeded: Any) -> None:
    where = {"group": 3}
    cursor = db.query(entity_class=Person, where=where, limit=5).cursor
    assert cursor is not None
    flipped = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]
    for bad in (flipped, cursor[:-1], cursor + "A", "", "not a cursor"):
        with pytest.raises(InvalidCursor):
            db.query(entity_class=Person, where=where, limit=5, cursor=bad)
    for other in (
        {"where": {"group": 4}},
        {"where": where, "descending": True},
        {"where": {"gender": "female", "group": 3}, "index": "GSI1"},
    ):
        with pytest.raises(InvalidCursor):
            db.query(entity_class=Person, limit=5, cursor=cursor, **other)
    with pytest.raises(InvalidCursor):
        db.query(entity_class=Tag, limit=5, cursor=cursor)
    client, name = seeded
    other_key = DynamoDbProxy(table_name=name, client=client, cursor_key=b"another key, 16+ bytes")
    with pytest.raises(InvalidCursor):
        other_key.query(entity_class=Person, where=where, limit=5, cursor=cursor)
    # The same query accepts it, and resumes right after the fifth match.
    page = db.query(entity_class=Person, where=where, limit=5, cursor=cursor)
    assert page.items[0]["id"] == "p00053"


def test_bad_arguments_are_refused_before_any_request(seeded: Any) -> None:
    _, name = seeded

    class NoClient:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"no request expected, got {name}")

    db = DynamoDbProxy(table_name=name, client=NoClient())  # type: ignore[arg-type]
    for kwargs, attribute in (
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": True}, "limit"),
        ({"where": {"height": 3}}, "height"),
        ({"index": "GSI9"}, "index"),
        ({"index": "GSI1", "where": {"age": 3}}, "gender"),
        ({"descending": "yes"}, "descending"),
    ):
        with pytest.raises(ValidationError) as info:
            db.query(entity_class=Person, **kwargs)
        assert info.value.path == attribute
    with pytest.raises(ValidationError):
        db.iter(entity_class=Person, page_size=0)
    assert check_limit(1000) == 1000


def test_request_limits_scale_with_the_filter() -> None:
    assert _request_limit(37, 0, 0) == 37
    assert _request_limit(33, 37, 4) == 306  # about what is still needed at the seen ratio
    assert _request_limit(10, 50, 0) == 1000
    assert _request_limit(900, 2000, 10) == 1000
    assert _request_limit(5, 10, 10) == 5


class Counting:
    """The client, counting its Query requests."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.queries = 0

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self.queries += 1
        return self.client.query(*args, **kwargs)


def test_iter_reads_page_by_page(seeded: tuple[Client, str]) -> None:
    client, name = seeded
    counting = Counting(client)
    db = DynamoDbProxy(table_name=name, client=counting)  # type: ignore[arg-type]
    items = db.iter(entity_class=Person, where={"group": 3}, page_size=50)
    assert counting.queries == 0  # nothing read before the first item is asked for
    first = list(itertools.islice(items, 50))
    first_page = counting.queries
    assert 1 <= first_page < 20
    assert [p["id"] for p in first] == [f"p{i:05d}" for i in range(3, 500, 10)]
    assert counting.queries == first_page  # the first page, not more
    next(items)
    assert counting.queries > first_page
    rest = list(items)
    assert len(first) + 1 + len(rest) == SEEDED // 10
    # Every request read at most 1000 items: the whole listing needs at least 10 of them.
    assert counting.queries >= SEEDED // 1000


class Row(Entity):
    """A small entity, for the many items of the memory test."""

    SCHEMA = {
        "title": "ROW",
        "type": "object",
        "properties": {"id": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["id"],
    }
    ID_ATTRIBUTE = "id"


#: Rows of the memory test, and how many of them its smaller listing reads.
ROWS = 30_000
FEW_ROWS = 3_000


@pytest.fixture(scope="module")
def many_rows(ddb_endpoint: str) -> Iterator[DynamoDbProxy]:
    """A table of ROWS rows (ids r000000, r000001, ...), written with batch writes."""
    rows = (Row({"id": f"r{i:06d}", "n": i}) for i in range(ROWS))
    with entity_table(ddb_endpoint, [Row], rows) as (client, name):
        yield DynamoDbProxy(table_name=name, client=client)


def iter_peak(db: DynamoDbProxy, where: dict[str, Any]) -> tuple[int, int]:
    """How many rows ``iter`` yields for ``where``, and the peak of memory traced meanwhile
    (no row is kept)."""
    count = 0
    tracemalloc.start()
    try:
        for _row in db.iter(entity_class=Row, where=where, page_size=1000):
            count += 1
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_iter_memory_stays_flat_as_the_listing_grows(many_rows: DynamoDbProxy) -> None:
    db = many_rows
    few, few_peak = iter_peak(db, {"id": {"<": f"r{FEW_ROWS:06d}"}})
    every, every_peak = iter_peak(db, {})
    assert (few, every) == (FEW_ROWS, ROWS)
    # Ten times the rows, the same peak: a page at a time is held, not the listing (holding
    # every row, or every page read, would make the peak grow tenfold with the rows).
    assert every_peak < 1.5 * few_peak


# --- writes keep the index keys ------------------------------------------------------------


@pytest.fixture
def fresh(ddb_endpoint: str) -> Iterator[DynamoDbProxy]:
    with entity_table(ddb_endpoint, [Person]) as (client, name):
        yield DynamoDbProxy(table_name=name, client=client)


def in_index(db: DynamoDbProxy, gender: str) -> list[str]:
    page = db.query(entity_class=Person, where={"gender": gender}, index="GSI1", limit=100)
    return [p["id"] for p in page.items]


def stored(db: DynamoDbProxy, uid: str) -> dict[str, Any]:
    item = db.client.get_item(db.table_name, {"PK": "PERSON", "SK": uid}, consistent=True)
    assert item is not None
    return item


def test_writes_keep_index_keys_right(fresh: DynamoDbProxy) -> None:
    db = fresh
    db.post(entity_class=Person, data={"id": "a", "gender": "female", "age": 30, "name": "Ann"})
    assert in_index(db, "female") == ["a"]
    # A patch that moves it to another partition of the index
    db.patch(entity_class=Person, data={"id": "a", "gender": "male"})
    assert in_index(db, "female") == [] and in_index(db, "male") == ["a"]
    assert stored(db, "a")["GSI1PK"] == "PERSON\x01Smale\x01"
    # A patch of an attribute no index uses keeps the keys
    db.patch(entity_class=Person, data={"id": "a", "group": 7})
    assert in_index(db, "male") == ["a"]
    # A patch of a sort attribute reorders it
    db.post(entity_class=Person, data={"id": "b", "gender": "male", "age": 40, "name": "Bob"})
    assert in_index(db, "male") == ["a", "b"]
    db.patch(entity_class=Person, data={"id": "a", "age": 50})
    assert in_index(db, "male") == ["b", "a"]
    # A put without a sort attribute takes it out of the index (sparse), keys removed
    db.put(entity_class=Person, data={"id": "a", "gender": "male", "name": "Ann"})
    assert in_index(db, "male") == ["b"]
    assert "GSI1PK" not in stored(db, "a") and "GSI1SK" not in stored(db, "a")
    # ... and a put with it brings it back
    db.put(entity_class=Person, data={"id": "a", "gender": "male", "age": 1, "name": "Ann"})
    assert in_index(db, "male") == ["a", "b"]
    assert db.get(entity_class=Person, data={"id": "a"}) == {
        "id": "a",
        "gender": "male",
        "age": 1,
        "name": "Ann",
    }
    with pytest.raises(ValidationError, match="GSI1SK"):
        db.post(entity_class=Person, data={"id": "c", "GSI1SK": "x"})
    with pytest.raises(ValidationError, match="GSI1PK"):
        db.patch(entity_class=Person, data={"id": "a", "GSI1PK": "x"})


def test_the_loader_writes_index_keys(fresh: DynamoDbProxy) -> None:
    report = fresh.load(Person, [person(i) for i in range(6)])
    assert report.written == 6
    female = [p["id"] for p in map(person, range(6)) if p["gender"] == "female"]
    assert in_index(fresh, "female") == female


def test_index_declarations_are_checked_at_class_creation() -> None:
    with pytest.raises(SchemaError, match="height"):

        class Bad(Entity):
            SCHEMA = {"title": "BAD", "properties": {"id": {"type": "string"}}}
            ID_ATTRIBUTE = "id"
            INDEXES = {"GSI1": {"partition": [], "sort": ["height"]}}


# --- index queries against the matches oracle ---------------------------------------------

NAMES = st.text(alphabet="abAB\x01é", min_size=1, max_size=3)
AGES = st.integers(min_value=-3, max_value=3)


def condition(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value (equality) or one operator of the where syntax on ``values``."""
    return st.one_of(
        values,
        st.sampled_from(["<", "<=", ">", ">=", "<>", "="]).flatmap(
            lambda op: values.map(lambda v: {op: v})
        ),
        st.lists(values, min_size=2, max_size=2).map(lambda b: {"between": sorted(b)}),
        st.lists(values, min_size=1, max_size=3).map(lambda v: {"in": v}),
        st.booleans().map(lambda b: {"exists": b}),
    )


WHERES = st.fixed_dictionaries(
    {},
    optional={
        "age": condition(AGES),
        "name": st.one_of(condition(NAMES), NAMES.map(lambda v: {"begins_with": v})),
        "group": condition(AGES),
    },
)
PEOPLE = st.lists(
    st.fixed_dictionaries(
        {"name": NAMES},
        optional={"age": AGES, "group": AGES},
    ),
    max_size=12,
    unique_by=lambda p: p["name"],
)


@settings(max_examples=25)
@given(people=PEOPLE, where=WHERES, limit=st.integers(1, 4), descending=st.booleans())
def test_index_queries_agree_with_the_oracle(
    seeded: tuple[Client, str],
    people: list[dict[str, Any]],
    where: dict[str, Any],
    limit: int,
    descending: bool,
) -> None:
    client, name = seeded
    db = DynamoDbProxy(table_name=name, client=client, check_table=False)
    gender = f"h-{uuid.uuid4().hex}"  # a partition of the index of this example's own
    items = [{**p, "id": f"{gender}-{i}", "gender": gender} for i, p in enumerate(people)]
    client.batch_write(name, [Person(item).data_with_identity() for item in items])
    try:
        query = {"gender": gender, **where}
        pages = all_pages(db, limit, where=query, index="GSI1", descending=descending)
        check_full_pages(pages, limit)
        got = [item for page in pages for item in page.items]
        in_index = [item for item in items if "age" in item]  # sparse: name is always there
        expected = sorted(
            (item for item in in_index if matches(item, query)),
            key=lambda item: (item["age"], item["name"]),
            reverse=descending,
        )
        assert got == expected
    finally:
        client.batch_write(name, deletes=[Person.make_identity(item) for item in items])
