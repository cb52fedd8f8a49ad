"""Entity transactions against DynamoDB Local: they commit as one TransactWriteItems, are
validated before anything is sent, send nothing when the block raises, are cancelled whole
by each kind of failure (with the verb's own error per action), and are applied once when
an answer is lost and the request retried (the fault proxy loses it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

import pytest

from dynamore import Client
from dynamore._retry import RetryPolicy
from dynamore._transaction import MAX_TRANSACTION_ACTIONS
from dynamore.dynamodb_proxy import DynamoDbProxy, PreconditionFailed, TransactionFailed
from dynamore.entity import Entity
from dynamore.exceptions import (
    AlreadyExists,
    DynamoreError,
    NotFound,
    ValidationError,
)
from tests.faultproxy import FaultProxy

Item = dict[str, Any]


class Order(Entity):
    SCHEMA = {
        "title": "ORDER",
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string"}, "sku": {"type": "string"}, "n": {}},
    }
    ID_ATTRIBUTE = "id"
    VERSION_ATTRIBUTE = "version"
    TIMESTAMPS = ("created_at", "updated_at")


class Stock(Entity):
    SCHEMA = {
        "title": "STOCK",
        "type": "object",
        "required": ["sku"],
        "properties": {"sku": {"type": "string"}, "count": {"type": "integer", "minimum": 0}},
    }
    ID_ATTRIBUTE = "sku"
    VERSION_ATTRIBUTE = "version"
    TTL_ATTRIBUTE = "expires_at"


class Cart(Entity):
    SCHEMA = {"title": "CART", "type": "object", "properties": {"id": {"type": "string"}}}
    ID_ATTRIBUTE = "id"


class Audited(Entity):
    """Cross-attribute rules and hooks: a patch needs the stored item."""

    SCHEMA = {
        "title": "AUDITED",
        "type": "object",
        "required": ["id", "low", "high"],
        "properties": {"id": {"type": "string"}, "low": {"type": "integer"}, "high": {}},
        "dependentRequired": {"low": ["high"]},
    }
    ID_ATTRIBUTE = "id"
    VERSION_ATTRIBUTE = "version"
    seen: list[tuple[str, str]] = []

    @classmethod
    def pre(cls, http_method: str, data: Item, existing_item: Optional[Item] = None) -> bool:
        cls.seen.append(("pre", http_method))
        return data.get("low") != -1

    @classmethod
    def post(cls, http_method: str, data: Item, existing_item: Optional[Item] = None) -> Any:
        cls.seen.append(("post", http_method))
        return True


@pytest.fixture(autouse=True)
def _forget_hooks() -> None:
    Audited.seen = []


@pytest.fixture
def proxy(ddb_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(ddb_endpoint) as p:
        yield p


@pytest.fixture
def db(proxy: FaultProxy, table: str) -> Iterator[DynamoDbProxy]:
    retry = RetryPolicy(max_attempts=3, transient_base=0.001, throttle_base=0.001)
    with Client(endpoint_url=proxy.url, transport="native", retry=retry) as c:
        yield DynamoDbProxy(table_name=table, client=c, check_table=False)


def _seed(db: DynamoDbProxy) -> None:
    db.post(entity_class=Stock, data={"sku": "a", "count": 5})
    for _ in range(6):  # version 7
        db.patch(entity_class=Stock, data={"sku": "a", "count": 5})
    db.post(entity_class=Cart, data={"id": "c1"})


def _state(db: DynamoDbProxy) -> tuple[Any, ...]:
    return (
        db.get(entity_class=Order, data={"id": "o1"}),
        db.get(entity_class=Stock, data={"sku": "a"}),
        db.get(entity_class=Cart, data={"id": "c1"}),
    )


def test_a_transaction_commits_in_one_request(db: DynamoDbProxy, proxy: FaultProxy) -> None:
    _seed(db)
    proxy.forwarded.clear()
    with db.transaction() as tx:
        tx.post(entity_class=Order, data={"id": "o1", "sku": "a", "n": 1, "version": 9})
        tx.patch(entity_class=Stock, data={"sku": "a", "count": 4}, if_match=7)
        tx.delete(entity_class=Cart, data={"id": "c1"})
        assert len(tx) == 3
    assert dict(proxy.forwarded) == {"TransactWriteItems": 1}
    order, stock, cart = _state(db)
    assert order is not None and order["version"] == 1 and order["created_at"]
    assert stock == {"sku": "a", "count": 4, "version": 8}
    assert cart is None
    with db.transaction() as tx:
        tx.put(entity_class=Order, data={"id": "o1", "sku": "b"}, if_match=1)
    order = db.get(entity_class=Order, data={"id": "o1"})
    assert order is not None and order["version"] == 2 and order["sku"] == "b" and "n" not in order


def test_an_exception_inside_the_block_sends_nothing(db: DynamoDbProxy, proxy: FaultProxy) -> None:
    _seed(db)
    before = _state(db)
    proxy.forwarded.clear()
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.post(entity_class=Order, data={"id": "o1"})
        tx.delete(entity_class=Cart, data={"id": "c1"})
        raise RuntimeError("changed my mind")
    assert not proxy.forwarded
    assert _state(db) == before
    with pytest.raises(ValidationError, match="transaction"):
        tx.commit()


def test_everything_is_validated_before_sending(db: DynamoDbProxy, proxy: FaultProxy) -> None:
    with db.transaction() as tx:
        with pytest.raises(ValidationError, match="count"):
            tx.patch(entity_class=Stock, data={"sku": "a", "count": -1})
        with pytest.raises(ValidationError, match="if_match"):
            tx.delete(entity_class=Cart, data={"id": "c1"}, if_match=1)
        tx.post(entity_class=Cart, data={"id": "c1"})
        with pytest.raises(ValidationError, match="one per item"):
            tx.delete(entity_class=Cart, data={"id": "c1"})
        for i in range(MAX_TRANSACTION_ACTIONS - 1):
            tx.post(entity_class=Order, data={"id": f"o{i}"})
        with pytest.raises(ValidationError, match="at most 100 actions"):
            tx.post(entity_class=Order, data={"id": "one too many"})
        assert not proxy.forwarded
    assert dict(proxy.forwarded) == {"TransactWriteItems": 1}
    assert len(db.get(entity_class=Order)) == MAX_TRANSACTION_ACTIONS - 1


def _cancelled(db: DynamoDbProxy, add: Any) -> TransactionFailed:
    with pytest.raises(TransactionFailed) as caught, db.transaction() as tx:
        tx.post(entity_class=Order, data={"id": "o1", "sku": "a"})
        add(tx)
        tx.delete(entity_class=Cart, data={"id": "c1"})
    assert isinstance(caught.value, DynamoreError)
    return caught.value


def test_each_kind_of_failure_cancels_the_whole_transaction(
    db: DynamoDbProxy, client: Client, table: str
) -> None:
    _seed(db)
    before = _state(db)
    stock = before[1]

    # A version that is not the stored one: PreconditionFailed with the stored data.
    failed = _cancelled(
        db, lambda tx: tx.patch(entity_class=Stock, data={"sku": "a", "count": 1}, if_match=3)
    )
    [(position, error)] = failed.failures
    assert position == 1 and isinstance(error, PreconditionFailed) and error.current == stock

    # An absent item: NotFound.
    failed = _cancelled(db, lambda tx: tx.put(entity_class=Stock, data={"sku": "zz"}))
    assert [(f.position, type(f.error)) for f in failed.failures] == [(1, NotFound)]

    # An expired item: NotFound, though DynamoDB still holds it.
    client.put_item(table, {"PK": "STOCK", "SK": "old", "sku": "old", "expires_at": 1})
    failed = _cancelled(db, lambda tx: tx.patch(entity_class=Stock, data={"sku": "old"}))
    assert [(f.position, type(f.error)) for f in failed.failures] == [(1, NotFound)]

    # A taken id: AlreadyExists.
    failed = _cancelled(db, lambda tx: tx.post(entity_class=Stock, data={"sku": "a"}))
    assert [(f.position, type(f.error)) for f in failed.failures] == [(1, AlreadyExists)]
    assert _state(db) == before  # nothing of any of them applied


def test_failures_name_each_failed_action(db: DynamoDbProxy, client: Client, table: str) -> None:
    _seed(db)
    client.put_item(table, {"PK": "STOCK", "SK": "old", "sku": "old", "expires_at": 1})
    before = _state(db)
    with pytest.raises(TransactionFailed) as caught, db.transaction() as tx:
        tx.post(entity_class=Cart, data={"id": "c1"})  # taken
        tx.patch(entity_class=Stock, data={"sku": "old", "count": 1})  # expired
        tx.delete(entity_class=Order, data={"id": "nope"})  # absent
        tx.patch(entity_class=Stock, data={"sku": "a", "count": 1}, if_match=2)  # stale
        tx.post(entity_class=Order, data={"id": "o1"})  # fine
    kinds = [(f.position, type(f.error)) for f in caught.value.failures]
    assert kinds == [
        (0, AlreadyExists),
        (1, NotFound),
        (2, NotFound),
        (3, PreconditionFailed),
    ]
    assert len(caught.value.reasons) == 5
    assert _state(db) == before  # nothing applied


def test_a_retried_transaction_is_applied_once(db: DynamoDbProxy, proxy: FaultProxy) -> None:
    _seed(db)
    proxy.inject("reset_after", operation="TransactWriteItems")  # applied, answer lost
    with db.transaction() as tx:
        tx.post(entity_class=Order, data={"id": "o1"})
        tx.patch(entity_class=Stock, data={"sku": "a", "count": 4})
    assert proxy.forwarded["TransactWriteItems"] == 2  # the retry carried the same token
    order, stock, _ = _state(db)
    assert order is not None and order["version"] == 1
    assert stock is not None and stock["version"] == 8  # not 9


def test_a_patch_that_needs_the_stored_item_takes_if_match(
    db: DynamoDbProxy, proxy: FaultProxy
) -> None:
    db.post(entity_class=Audited, data={"id": "x", "low": 1, "high": 2})
    with db.transaction() as tx:
        with pytest.raises(ValidationError, match="if_match"):
            tx.patch(entity_class=Audited, data={"id": "x", "low": 3})
        with pytest.raises(ValidationError, match="low"):  # the merged item is validated
            tx.patch(entity_class=Audited, data={"id": "x", "low": "a"}, if_match=1)
        with pytest.raises(PreconditionFailed):  # a pre hook refusing
            tx.patch(entity_class=Audited, data={"id": "x", "low": -1}, if_match=1)
        with pytest.raises(PreconditionFailed) as caught:  # read at another version
            tx.patch(entity_class=Audited, data={"id": "x", "low": 3}, if_match=2)
        assert caught.value.current == {"id": "x", "low": 1, "high": 2, "version": 1}
        tx.patch(entity_class=Audited, data={"id": "x", "low": 3}, if_match=1)
        assert ("post", "PATCH") not in Audited.seen  # post hooks wait for the commit
    assert Audited.seen[-1] == ("post", "PATCH")
    got = db.get(entity_class=Audited, data={"id": "x"})
    assert got == {"id": "x", "low": 3, "high": 2, "version": 2}


def test_a_version_changed_between_read_and_commit_cancels(db: DynamoDbProxy) -> None:
    db.post(entity_class=Audited, data={"id": "x", "low": 1, "high": 2})
    with pytest.raises(TransactionFailed) as caught, db.transaction() as tx:
        tx.patch(entity_class=Audited, data={"id": "x", "low": 3}, if_match=1)
        db.patch(entity_class=Audited, data={"id": "x", "high": 9})  # another writer
    [(position, error)] = caught.value.failures
    assert position == 0 and isinstance(error, PreconditionFailed)
    assert error.current == {"id": "x", "low": 1, "high": 9, "version": 2}
