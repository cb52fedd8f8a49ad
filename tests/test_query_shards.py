"""Sharded entity types against DynamoDB Local: one request per item, listing, ``query`` and
``iter`` over every shard merged in id order, cursors, the loader, async reads."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import random
import threading
from collections.abc import Iterator
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamore import AsyncClient, Client
from dynamore._query import compile_query, iter_items_async, query_page_async
from dynamore._shards import shard_of
from dynamore._where import matches
from dynamore.dynamodb_proxy import DynamoDbProxy
from dynamore.entity import Entity
from dynamore.exceptions import InvalidCursor
from tests import ddb_admin
from tests.kit import entity_table, stored

SEEDED = 1_200
PLAIN = 150
SHARDS = 8
KEY = b"0123456789abcdef-shard-key"

SCHEMA: dict[str, Any] = {
    "title": "PERSON",
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "gender": {"type": "string"},
        "age": {"type": "integer"},
        "group": {"type": "integer"},
    },
    "required": ["id"],
    "additionalProperties": False,
}


class Person(Entity):
    SCHEMA = SCHEMA
    ID_ATTRIBUTE = "id"
    PARTITION_SHARDS = SHARDS
    INDEXES = {"GSI1": {"partition": ["gender"], "sort": ["age"]}}


class Unsharded(Entity):
    """The same type without sharding: another layout, so another cursor binding."""

    SCHEMA = SCHEMA
    ID_ATTRIBUTE = "id"
    INDEXES = Person.INDEXES


class Tag(Entity):
    """An unsharded type (dynamore 0.1's layout) in the same table."""

    SCHEMA = {
        "title": "TAG",
        "type": "object",
        "properties": {"id": {"type": "string"}},
        "required": ["id"],
    }
    ID_ATTRIBUTE = "id"


def person(i: int) -> dict[str, Any]:
    return {"id": f"p{i:05d}", "gender": ("female", "male")[i % 2], "age": i % 40, "group": i % 10}


@pytest.fixture(scope="module")
def seeded(ddb_endpoint: str) -> Iterator[tuple[Client, str]]:
    people = (Person(person(i)) for i in range(SEEDED))
    tags = (Tag({"id": f"t{i:04d}"}) for i in range(PLAIN))
    with entity_table(ddb_endpoint, [Person, Tag], itertools.chain(people, tags)) as seeded:
        yield seeded


@pytest.fixture
def db(seeded: tuple[Client, str]) -> DynamoDbProxy:
    client, name = seeded
    return DynamoDbProxy(table_name=name, client=client, cursor_key=KEY)


@contextlib.contextmanager
def counting_client(
    endpoint: str, operations: list[str], senders: Optional[set[str]] = None
) -> Iterator[Client]:
    """A Client that appends the name of every operation it sends to ``operations`` (and the
    sending thread's name to ``senders``: a thread pool names each of its threads anew)."""

    def record(call: Any) -> None:
        operations.append(call.operation)
        if senders is not None:
            senders.add(threading.current_thread().name)

    with Client(
        endpoint_url=endpoint,
        region="us-east-1",
        credentials=("testing", "testing"),
        on_request=record,
    ) as client:
        yield client


def pages_of(db: DynamoDbProxy, limit: int, **query: Any) -> list[list[dict[str, Any]]]:
    page = db.query(entity_class=Person, limit=limit, **query)
    pages = [page.items]
    while page.cursor is not None:
        page = db.query(entity_class=Person, limit=limit, cursor=page.cursor, **query)
        pages.append(page.items)
    return pages


def test_items_are_stored_under_the_documented_partitions(
    ddb_endpoint: str, seeded: tuple[Client, str]
) -> None:
    items = stored(ddb_endpoint, seeded[1])
    people = [item for item in items.values() if item["id"].startswith("p")]
    assert len(people) == SEEDED
    assert all(item["PK"] == f"PERSON#{shard_of(item['SK'], SHARDS)}" for item in people)
    assert {item["PK"] for item in people} == set(Person.partitions())
    assert {item["PK"] for item in items.values() if item["id"].startswith("t")} == {"TAG"}


def test_listing_reads_every_shard_merged_in_id_order(db: DynamoDbProxy) -> None:
    assert db.get(entity_class=Person) == [person(i) for i in range(SEEDED)]
    # The unsharded type in the same table reads as it always did.
    assert db.get(entity_class=Tag) == [{"id": f"t{i:04d}"} for i in range(PLAIN)]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize(
    ("limit", "where"),
    [(37, {"group": 3}), (100, None), (1, {"id": {"between": ["p00100", "p00130"]}})],
)
def test_pages_fill_and_cover_every_match_once_in_id_order(
    db: DynamoDbProxy, descending: bool, limit: int, where: Any
) -> None:
    pages = pages_of(db, limit, where=where, descending=descending)
    assert all(len(page) == limit for page in pages[:-1])
    got = [item for page in pages for item in page]
    expected = [
        p
        for p in map(person, range(SEEDED))
        if where is None
        or ("group" in where and p["group"] == 3)
        or ("id" in where and "p00100" <= p["id"] <= "p00130")
    ]
    assert got == (expected[::-1] if descending else expected)


def test_iter_reads_every_shard_lazily_in_id_order(
    ddb_endpoint: str, seeded: tuple[Client, str]
) -> None:
    _, name = seeded
    operations: list[str] = []
    senders: set[str] = set()
    before = set(threading.enumerate())
    with counting_client(ddb_endpoint, operations, senders) as counted:
        db = DynamoDbProxy(table_name=name, client=counted)
        items = db.iter(entity_class=Person, where={"group": 5}, page_size=25)
        assert operations == []  # nothing is read before the first item is asked for
        first = next(items)
        # The first page came from every shard, asked at once; it is served from memory.
        assert operations[:SHARDS] == ["Query"] * SHARDS
        sent = len(operations)
        page = [first] + [next(items) for _ in range(24)]
        assert len(operations) == sent
        rest = list(items)
        assert len(operations) > sent
        assert page + rest == [p for p in map(person, range(SEEDED)) if p["group"] == 5]
    # Every page of the listing was sent by one set of worker threads (not new ones per page
    # or round; a lone request goes from this thread), all stopped once the listing ended.
    assert (
        len(operations) > 2 * SHARDS and len(senders - {threading.current_thread().name}) <= SHARDS
    )
    assert set(threading.enumerate()) <= before


def test_index_queries_of_a_sharded_type_read_the_one_index_partition(db: DynamoDbProxy) -> None:
    where = {"gender": "female", "age": {"between": [10, 12]}}
    pages = pages_of(db, 50, where=where, index="GSI1")
    got = [item for page in pages for item in page]
    expected = sorted(
        (p for p in map(person, range(SEEDED)) if p["gender"] == "female" and 10 <= p["age"] <= 12),
        key=lambda p: p["age"],
    )
    assert [p["age"] for p in got] == [p["age"] for p in expected]
    assert sorted(p["id"] for p in got) == sorted(p["id"] for p in expected)


def test_a_cursor_is_bound_to_the_shard_layout(db: DynamoDbProxy) -> None:
    cursor = db.query(entity_class=Person, limit=5).cursor
    assert cursor is not None
    with pytest.raises(InvalidCursor):
        db.query(entity_class=Unsharded, limit=5, cursor=cursor)
    plain_cursor = db.query(entity_class=Unsharded, limit=5, where={"id": "nothing"}).cursor
    assert plain_cursor is None  # the unsharded twin sees no items: they are in the shards
    page = db.query(entity_class=Person, limit=5, cursor=cursor)
    assert [p["id"] for p in page.items] == [f"p{i:05d}" for i in range(5, 10)]


def test_single_item_verbs_stay_one_request(ddb_endpoint: str, seeded: tuple[Client, str]) -> None:
    _, name = seeded
    operations: list[str] = []
    with counting_client(ddb_endpoint, operations) as counted:
        db = DynamoDbProxy(table_name=name, client=counted, check_table=False)
        new = {"id": "x-1", "gender": "male", "age": 3, "group": 1}
        db.post(entity_class=Person, data=new)
        assert db.get(entity_class=Person, data={"id": "x-1"}) == new
        db.put(entity_class=Person, data=dict(new, age=4))
        db.patch(entity_class=Person, data={"id": "x-1", "group": 2})
        assert db.get(entity_class=Person, data={"id": "x-1"})["group"] == 2
        db.delete(entity_class=Person, data={"id": "x-1"})
        assert db.get(entity_class=Person, data={"id": "x-1"}) is None
    assert len(operations) == 7  # post, get, put, patch, get, delete, get: one request each


def test_async_reads_of_a_sharded_type_equal_the_sync_ones(
    ddb_endpoint: str, seeded: tuple[Client, str]
) -> None:
    _, name = seeded
    query, _ = compile_query(Person, {"group": 7})
    listing, _ = compile_query(Person)
    partitions = Person.partitions()

    async def read() -> tuple[Any, Any, Any]:
        async with AsyncClient(
            endpoint_url=ddb_endpoint, region="us-east-1", credentials=("testing", "testing")
        ) as db:
            page = await query_page_async(
                db, name, query, limit=30, start=None, forward=False, partitions=partitions
            )
            every, _ = await query_page_async(db, name, listing, limit=None, partitions=partitions)
            lazily = [
                item
                async for item in iter_items_async(
                    db, name, query, page_size=17, forward=True, partitions=partitions
                )
            ]
            return page, every, lazily

    (items, position), every, lazily = asyncio.run(read())
    group7 = [p for p in map(person, range(SEEDED)) if p["group"] == 7]
    assert [Person.strip_keys(i) for i in items] == group7[::-1][:30]
    assert position == {"PK": {"S": items[-1]["PK"]}, "SK": {"S": items[-1]["SK"]}}
    assert [Person.strip_keys(i) for i in every] == list(map(person, range(SEEDED)))
    assert [Person.strip_keys(i) for i in lazily] == group7


def test_twenty_thousand_loaded_items_spread_evenly_and_list_once_in_order(
    ddb_endpoint: str,
) -> None:
    count = 20_000
    with entity_table(ddb_endpoint, [Person]) as (client, name):
        db = DynamoDbProxy(table_name=name, client=client)
        report = db.load(Person, (person(i) for i in range(count)))
        assert report.written == count and report.rejected == 0
        # Counted by botocore, one Query per partition: the loader spread the items.
        admin = ddb_admin.botocore_client(ddb_endpoint)
        per_shard = collections.Counter()
        for partition in Person.partitions():
            for page in admin.get_paginator("query").paginate(
                TableName=name,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": partition}},
                Select="COUNT",
            ):
                per_shard[partition] += page["Count"]
        mean = count / SHARDS
        assert sum(per_shard.values()) == count
        assert all(abs(n - mean) <= 0.1 * mean for n in per_shard.values()), per_shard
        ids = [item["id"] for item in db.iter(entity_class=Person, page_size=1000)]
        assert ids == [f"p{i:05d}" for i in range(count)]


class Person16(Person):
    """The README's resharding recipe: a new layout under another partition value."""

    PARTITION_SHARDS = 16

    @classmethod
    def partition_value(cls) -> str:
        return "PERSON.16"


def test_the_readme_resharding_recipe_moves_every_item_once(ddb_endpoint: str) -> None:
    with entity_table(ddb_endpoint, [Person]) as (client, name):
        db = DynamoDbProxy(table_name=name, client=client)
        everyone = [person(i) for i in range(300)]
        # From the 0.1 layout to 8 shards under the same title, then to 16 elsewhere.
        assert db.load(Unsharded, everyone).written == 300
        for old, new in ((Unsharded, Person), (Person, Person16)):
            report = db.load(new, db.iter(entity_class=old, page_size=1000))
            assert report.written == 300 and report.rejected == 0
            for item in db.iter(entity_class=old, page_size=1000):
                db.delete(entity_class=old, data={"id": item["id"]})
            assert db.get(entity_class=old) == []
            assert db.get(entity_class=new) == everyone
        partitions = {item["PK"] for item in stored(ddb_endpoint, name).values()}
        assert partitions == set(Person16.partitions())


# --- the merge against an oracle -------------------------------------------------------------

#: Ids the merge must order as DynamoDB does (UTF-8 bytes, which is code point order): digits,
#: letters, an accent, a BMP character above every surrogate, and astral ones (which UTF-16
#: would order before it).
ALPHABET = "0129azAZé\ufffd\U0001f980\U00010000"
ORACLE_ITEMS = 200


def _layouts() -> dict[int, type[Entity]]:
    layouts = {}
    for shards in (1, 2, 3, 5, 16):
        schema = dict(SCHEMA, title=f"H{shards}")
        layouts[shards] = type(
            f"H{shards}",
            (Entity,),
            {"SCHEMA": schema, "ID_ATTRIBUTE": "id", "PARTITION_SHARDS": shards},
        )
    return layouts


LAYOUTS = _layouts()


def oracle_people() -> list[dict[str, Any]]:
    rng = random.Random(16)
    ids = {"".join(rng.choices(ALPHABET, k=rng.randint(1, 6))) for _ in range(ORACLE_ITEMS)}
    return [
        {"id": id_, "gender": "male", "age": rng.randint(0, 9), "group": rng.randint(0, 9)}
        for id_ in sorted(ids)
    ]


@pytest.fixture(scope="module")
def oracle_table(ddb_endpoint: str) -> Iterator[DynamoDbProxy]:
    """The same people stored once per layout (types H1, H2, H3, H5, H16)."""
    items = [entity(p) for entity in LAYOUTS.values() for p in oracle_people()]
    with entity_table(ddb_endpoint, [Person], items) as (client, name):
        yield DynamoDbProxy(table_name=name, client=client, cursor_key=KEY)


WHERES = st.one_of(
    st.none(),
    st.builds(lambda g: {"group": {"in": g}}, st.lists(st.integers(0, 9), min_size=1, max_size=3)),
    st.builds(lambda a: {"age": {">=": a}}, st.integers(0, 10)),
    st.builds(
        lambda low, high: {"id": {"between": sorted([low, high])}},
        st.text(ALPHABET, min_size=1, max_size=3),
        st.text(ALPHABET, min_size=1, max_size=3),
    ),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shards=st.sampled_from(sorted(LAYOUTS)),
    where=WHERES,
    limit=st.integers(4, 60),
    descending=st.booleans(),
)
def test_paged_merges_agree_with_the_oracle(
    oracle_table: DynamoDbProxy, shards: int, where: Any, limit: int, descending: bool
) -> None:
    entity = LAYOUTS[shards]
    pages = []
    page = oracle_table.query(entity_class=entity, where=where, limit=limit, descending=descending)
    pages.append(page.items)
    while page.cursor is not None:
        page = oracle_table.query(
            entity_class=entity, where=where, limit=limit, descending=descending, cursor=page.cursor
        )
        pages.append(page.items)
    assert all(len(p) == limit for p in pages[:-1])
    expected = [p for p in oracle_people() if matches(p, where or {})]
    expected.sort(key=lambda p: p["id"].encode("utf-8"), reverse=descending)
    assert [p for items in pages for p in items] == expected
