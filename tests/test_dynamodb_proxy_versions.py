"""Versions and ``if_match``, and timestamps, on DynamoDbProxy's verbs against DynamoDB Local:
one request per verb (counted by the fault proxy in front of DynamoDB Local), the stored data
from the failed condition itself, and a lost answer whose retry does not bump the version
twice."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import Any, Optional

import pytest

from dynamore import AsyncClient, Client
from dynamore._managed import WRITE_TOKEN_ATTRIBUTE
from dynamore._retry import RetryPolicy
from dynamore.dynamodb_proxy import (
    AsyncDynamoDbProxy,
    DynamoDbProxy,
    NotFound,
    PreconditionFailed,
)
from dynamore.entity import Entity
from dynamore.exceptions import ValidationError
from tests.client_kit import KINDS, make_client
from tests.faultproxy import FaultProxy
from tests.proxy_kit import proxy_for

Item = dict[str, Any]
ISO_MILLIS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Doc(Entity):
    SCHEMA = {
        "title": "DOC",
        "type": "object",
        "required": ["id", "version"],  # the store's own: never required of the caller
        "properties": {
            "id": {"type": "string"},
            "text": {"type": "string"},
            "count": {"type": "integer"},
            "version": {"type": "integer"},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
        },
        "additionalProperties": False,
    }
    ID_ATTRIBUTE = "id"
    VERSION_ATTRIBUTE = "version"
    TIMESTAMPS = ("created_at", "updated_at")


class HookedDoc(Doc):
    """A Doc whose pre hook needs the stored item: its writes read, merge and write."""

    @classmethod
    def pre(cls, http_method: str, data: Item, existing_item: Optional[Item] = None) -> bool:
        return True


class Plain(Entity):
    SCHEMA = {
        "title": "PLAIN",
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string"}, "text": {"type": "string"}},
    }
    ID_ATTRIBUTE = "id"


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, ddb_endpoint: str, table: str) -> Iterator[Any]:
    """The proxy under test: DynamoDbProxy, or AsyncDynamoDbProxy behind a blocking facade."""
    with make_client(request.param, endpoint_url=ddb_endpoint) as c:
        yield proxy_for(c, table_name=table)


@pytest.fixture
def proxy(ddb_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(ddb_endpoint) as p:
        yield p


RETRY = RetryPolicy(max_attempts=3, transient_base=0.001, throttle_base=0.001)


@pytest.fixture(params=KINDS)
def faulty_db(
    request: pytest.FixtureRequest, proxy: FaultProxy, table: str
) -> Iterator[DynamoDbProxy]:
    """The proxy under test, its requests through the fault proxy."""
    with make_client(request.param, endpoint_url=proxy.url, transport="native", retry=RETRY) as c:
        yield proxy_for(c, table_name=table, check_table=False)


def _stored(client: Client, table: str, title: str, id_: str) -> Optional[Item]:
    return client.get_item(table, {"PK": title, "SK": id_}, consistent=True)


# -- versions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("entity_class", [Doc, HookedDoc], ids=["one request", "read-merge-write"])
def test_post_stores_version_1_and_every_put_and_patch_adds_1(
    entity_class: type[Doc], db: DynamoDbProxy, client: Client, table: str
) -> None:
    # A version in the data is never written as given.
    posted = db.post(entity_class=entity_class, data={"id": "d", "text": "a", "version": 41})
    assert posted["version"] == 1
    put = db.put(entity_class=entity_class, data={"id": "d", "text": "b", "version": 99})
    assert put["version"] == 2 and put["text"] == "b"
    patched = db.patch(entity_class=entity_class, data={"id": "d", "count": 3, "version": 7})
    assert patched["version"] == 3 and patched["count"] == 3 and patched["text"] == "b"
    got = db.get(entity_class=entity_class, data={"id": "d"})
    assert got == patched and WRITE_TOKEN_ATTRIBUTE not in got
    stored = _stored(client, table, "DOC", "d")
    assert stored is not None and stored["version"] == 3
    # A patch that gives nothing still writes a new version.
    assert db.patch(entity_class=entity_class, data={"id": "d"})["version"] == 4
    assert db.delete(entity_class=entity_class, data={"id": "d"}, if_match=4)["version"] == 4


@pytest.mark.parametrize("entity_class", [Doc, HookedDoc], ids=["one request", "read-merge-write"])
def test_if_match_writes_only_the_named_version(
    entity_class: type[Doc], db: DynamoDbProxy, client: Client, table: str
) -> None:
    db.post(entity_class=entity_class, data={"id": "d", "text": "a"})
    winner = db.patch(entity_class=entity_class, data={"id": "d", "text": "b"}, if_match=1)
    assert winner["version"] == 2
    for verb, data in [
        (db.put, {"id": "d", "text": "x"}),
        (db.patch, {"id": "d", "text": "x"}),
        (db.delete, {"id": "d"}),
    ]:
        with pytest.raises(PreconditionFailed) as caught:
            verb(entity_class=entity_class, data=data, if_match=1)
        assert caught.value.current == winner
    assert db.get(entity_class=entity_class, data={"id": "d"}) == winner
    assert (
        db.put(entity_class=entity_class, data={"id": "d", "text": "c"}, if_match=2)["version"] == 3
    )
    for verb, data in [
        (db.put, {"id": "nope", "text": "x"}),
        (db.patch, {"id": "nope", "text": "x"}),
        (db.delete, {"id": "nope"}),
    ]:
        with pytest.raises(NotFound):
            verb(entity_class=entity_class, data=data, if_match=1)
    assert _stored(client, table, "DOC", "nope") is None


def test_if_match_is_one_request_and_current_comes_from_the_failed_condition(
    proxy: FaultProxy, faulty_db: DynamoDbProxy
) -> None:
    faulty_db.post(entity_class=Doc, data={"id": "d", "text": "a"})
    faulty_db.patch(entity_class=Doc, data={"id": "d", "text": "b"}, if_match=1)
    with pytest.raises(PreconditionFailed) as caught:
        faulty_db.put(entity_class=Doc, data={"id": "d", "text": "x"}, if_match=1)
    assert caught.value.current is not None and caught.value.current["text"] == "b"
    with pytest.raises(PreconditionFailed):
        faulty_db.delete(entity_class=Doc, data={"id": "d"}, if_match=1)
    assert proxy.forwarded == {"PutItem": 1, "UpdateItem": 2, "DeleteItem": 1}


def test_ten_threads_patching_the_same_version_one_wins(proxy: FaultProxy, table: str) -> None:
    with Client(endpoint_url=proxy.url, transport="native", retry=RETRY) as c:
        _ten_threads_patching_the_same_version(proxy, DynamoDbProxy(table_name=table, client=c))


def _ten_threads_patching_the_same_version(proxy: FaultProxy, faulty_db: DynamoDbProxy) -> None:
    faulty_db.post(entity_class=Doc, data={"id": "d", "count": 0})
    barrier = threading.Barrier(10)
    wins: list[Item] = []
    losses: list[PreconditionFailed] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        barrier.wait()
        try:
            result = faulty_db.patch(entity_class=Doc, data={"id": "d", "count": n}, if_match=1)
        except PreconditionFailed as exc:
            with lock:
                losses.append(exc)
            return
        with lock:
            wins.append(result)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, 11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1 and len(losses) == 9
    assert wins[0]["version"] == 2
    assert all(loss.current == wins[0] for loss in losses)
    assert proxy.forwarded["UpdateItem"] == 10  # one request per attempt, no reads
    assert "GetItem" not in proxy.forwarded


@pytest.mark.parametrize("entity_class", [Doc, HookedDoc], ids=["one request", "read-merge-write"])
def test_ten_tasks_patching_the_same_version_one_wins(
    entity_class: type[Doc], proxy: FaultProxy, client: Client, table: str
) -> None:
    async def race() -> tuple[list[Item], list[PreconditionFailed]]:
        async with AsyncClient(endpoint_url=proxy.url, transport="native", retry=RETRY) as c:
            db = AsyncDynamoDbProxy(table_name=table, client=c)
            await db.post(entity_class=entity_class, data={"id": "d", "count": 0})
            outcomes = await asyncio.gather(
                *(
                    db.patch(entity_class=entity_class, data={"id": "d", "count": n}, if_match=1)
                    for n in range(1, 11)
                ),
                return_exceptions=True,
            )
        wins = [o for o in outcomes if isinstance(o, dict)]
        losses = [o for o in outcomes if isinstance(o, PreconditionFailed)]
        return wins, losses

    wins, losses = asyncio.run(race())
    assert len(wins) == 1 and len(losses) == 9
    assert wins[0]["version"] == 2
    assert all(loss.current == wins[0] for loss in losses)
    stored = _stored(client, table, "DOC", "d")
    assert stored is not None and stored["version"] == 2 and stored["count"] == wins[0]["count"]


@pytest.mark.parametrize("if_match", [None, 1], ids=["no if_match", "if_match"])
@pytest.mark.parametrize("verb", ["put", "patch"])
def test_a_lost_answer_does_not_bump_the_version_twice(
    verb: str,
    if_match: Optional[int],
    proxy: FaultProxy,
    faulty_db: DynamoDbProxy,
    client: Client,
    table: str,
) -> None:
    faulty_db.post(entity_class=Doc, data={"id": "d", "text": "a"})
    proxy.inject("reset_after", operation="UpdateItem")  # applied, answer lost
    write = getattr(faulty_db, verb)
    result = write(entity_class=Doc, data={"id": "d", "text": "b"}, if_match=if_match)
    assert proxy.forwarded["UpdateItem"] == 2  # the retry met its own write
    assert result["version"] == 2 and result["text"] == "b"
    stored = _stored(client, table, "DOC", "d")
    assert stored is not None and stored["version"] == 2
    # A second call is a second write: its retry is not mistaken for the first.
    proxy.inject("reset_after", operation="UpdateItem")
    again = write(entity_class=Doc, data={"id": "d", "text": "c"}, if_match=2 if if_match else None)
    assert again["version"] == 3


def test_a_lost_answer_in_read_merge_write_does_not_bump_the_version_twice(
    proxy: FaultProxy, faulty_db: DynamoDbProxy, client: Client, table: str
) -> None:
    faulty_db.post(entity_class=HookedDoc, data={"id": "d", "text": "a"})
    proxy.inject("reset_after", operation="UpdateItem")
    result = faulty_db.patch(entity_class=HookedDoc, data={"id": "d", "text": "b"})
    assert result["version"] == 2
    # The retry's condition failed on its own write; the re-read recognised it.
    assert proxy.forwarded["UpdateItem"] == 2 and proxy.forwarded["GetItem"] == 2
    stored = _stored(client, table, "DOC", "d")
    assert stored is not None and stored["version"] == 2 and stored["text"] == "b"


def test_if_match_is_checked_before_any_request(db: DynamoDbProxy) -> None:
    for bad in (0, -1, True, "1", 1.0):
        with pytest.raises(ValidationError, match="if_match"):
            db.patch(entity_class=Doc, data={"id": "d"}, if_match=bad)
    with pytest.raises(ValidationError, match="VERSION_ATTRIBUTE"):
        db.put(entity_class=Plain, data={"id": "p"}, if_match=1)
    with pytest.raises(ValidationError, match="VERSION_ATTRIBUTE"):
        db.delete(entity_class=Plain, data={"id": "p"}, if_match=1)


def test_an_item_stored_before_versioning_gets_version_1_from_its_first_write(
    db: DynamoDbProxy, client: Client, table: str
) -> None:
    client.put_item(table, {"PK": "DOC", "SK": "old", "id": "old", "text": "a"})
    assert db.patch(entity_class=Doc, data={"id": "old", "text": "b"})["version"] == 1
    with pytest.raises(PreconditionFailed) as caught:
        db.put(entity_class=Doc, data={"id": "old", "text": "c"}, if_match=5)
    assert caught.value.current is not None and caught.value.current["version"] == 1


# -- timestamps -----------------------------------------------------------------------------------


@pytest.mark.parametrize("entity_class", [Doc, HookedDoc], ids=["one request", "read-merge-write"])
def test_created_at_is_kept_and_updated_at_moves_with_every_write(
    entity_class: type[Doc], db: DynamoDbProxy
) -> None:
    fake = "2000-01-01T00:00:00.000Z"
    posted = db.post(
        entity_class=entity_class,
        data={"id": "d", "text": "a", "created_at": fake, "updated_at": fake},
    )
    created = posted["created_at"]
    assert ISO_MILLIS_Z.match(created) and created != fake
    assert posted["updated_at"] == created
    put = db.put(entity_class=entity_class, data={"id": "d", "text": "b", "created_at": fake})
    assert put["created_at"] == created and put["updated_at"] >= created
    patched = db.patch(entity_class=entity_class, data={"id": "d", "created_at": fake})
    assert patched["created_at"] == created and patched["updated_at"] >= put["updated_at"]
    got = db.get(entity_class=entity_class, data={"id": "d"})
    assert got is not None and got["created_at"] == created
    assert ISO_MILLIS_Z.match(got["updated_at"])


def test_a_plain_entity_stores_nothing_it_was_not_given(
    db: DynamoDbProxy, client: Client, table: str
) -> None:
    db.post(entity_class=Plain, data={"id": "p", "text": "a"})
    db.put(entity_class=Plain, data={"id": "p", "text": "b"})
    db.patch(entity_class=Plain, data={"id": "p", "text": "c"})
    assert _stored(client, table, "PLAIN", "p") == {
        "PK": "PLAIN",
        "SK": "p",
        "id": "p",
        "text": "c",
    }
