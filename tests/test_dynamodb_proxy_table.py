"""The table check of DynamoDbProxy: before the first write, the table's key schema must be the
entity's ``pr_keys()``; one DescribeTable per table per process, shared by threads; an opt-out."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dynamore import AsyncClient, Client
from dynamore.dynamodb_proxy import AlreadyExists, AsyncDynamoDbProxy, DynamoDbProxy
from dynamore.exceptions import ConfigurationError, ResourceNotFound
from tests import ddb_admin
from tests.client_kit import KINDS, make_client
from tests.faultproxy import FaultProxy
from tests.kit import JEANNE, Person
from tests.proxy_kit import proxy_for


@pytest.fixture
def odd_table(ddb_endpoint: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A table whose keys are ``request.param``: (hash key, range key or None)."""
    hash_key, range_key = request.param
    name = f"t-odd-{uuid.uuid4().hex[:8]}"
    keys = [(hash_key, "HASH")] + ([(range_key, "RANGE")] if range_key else [])
    ddb_admin.botocore_client(ddb_endpoint).create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n, _ in keys],
        KeySchema=[{"AttributeName": n, "KeyType": kind} for n, kind in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        yield name
    finally:
        ddb_admin.delete_table(ddb_endpoint, name)


@pytest.mark.parametrize(
    "odd_table, shown",
    [(("PK", None), "hash key 'PK' and range key None"), (("SK", "PK"), "hash key 'SK'")],
    indirect=["odd_table"],
    ids=["hash key only", "swapped"],
)
def test_a_table_that_does_not_match_the_entity_is_refused_before_any_write(
    odd_table: str, shown: str, client: Client
) -> None:
    db = DynamoDbProxy(table_name=odd_table, client=client)
    for verb in (db.post, db.put, db.patch, db.delete):
        with pytest.raises(ConfigurationError) as info:
            verb(entity_class=Person, data=JEANNE)
        message = str(info.value)
        assert shown in message and "Person.pr_keys() is ['PK', 'SK']" in message
    with pytest.raises(ConfigurationError):
        db.load(Person, [JEANNE])
    assert client.scan(odd_table).items == []


@pytest.mark.parametrize("odd_table", [("PK", None)], indirect=True)
def test_with_the_check_off_every_id_lands_on_one_item(odd_table: str, client: Client) -> None:
    # What the check prevents: on a hash-key-only table the sort key is a plain attribute.
    db = DynamoDbProxy(table_name=odd_table, client=client, check_table=False)
    db.post(entity_class=Person, data={**JEANNE, "id_number": "1"})
    with pytest.raises(AlreadyExists):
        db.post(entity_class=Person, data={**JEANNE, "id_number": "2"})


@pytest.fixture(params=KINDS)
def any_client(request: pytest.FixtureRequest, ddb_endpoint: str) -> Iterator[Any]:
    """A Client, or an AsyncClient behind a blocking facade (see tests/proxy_kit.py)."""
    with make_client(request.param, endpoint_url=ddb_endpoint) as c:
        yield c


def test_entity_keys_other_than_the_tables_are_refused(any_client: Any, table: str) -> None:
    class LowerKeys(Person):
        @classmethod
        def pr_keys(cls) -> list[str]:
            return ["pk", "sk"]

    with pytest.raises(ConfigurationError, match=r"range key 'SK'.*\['pk', 'sk'\]"):
        proxy_for(any_client, table_name=table).post(entity_class=LowerKeys, data=JEANNE)
    # The same table with matching keys is fine.
    proxy_for(any_client, table_name=table).post(entity_class=Person, data=JEANNE)


def test_a_missing_table_is_resource_not_found(any_client: Any) -> None:
    with pytest.raises(ResourceNotFound):
        proxy_for(any_client, table_name="no-such-table").post(entity_class=Person, data=JEANNE)


@pytest.fixture
def proxy(ddb_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(ddb_endpoint) as p:
        yield p


def test_one_describe_table_per_table_per_process_whatever_the_threads(
    proxy: FaultProxy, ddb_endpoint: str, table: str
) -> None:
    other = f"t-{uuid.uuid4().hex[:12]}"
    ddb_admin.create_table(ddb_endpoint, other)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def post(n: int, client: Client) -> None:
        barrier.wait()
        try:  # a proxy per thread, as a handler building its own would
            DynamoDbProxy(table_name=table, client=client).post(
                entity_class=Person, data={**JEANNE, "id_number": str(n)}
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        with Client(endpoint_url=proxy.url, transport="native") as client:
            threads = [threading.Thread(target=post, args=(n, client)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []
            assert proxy.forwarded["DescribeTable"] == 1 and proxy.forwarded["PutItem"] == 8
            DynamoDbProxy(table_name=table, client=client).patch(
                entity_class=Person, data={"id_number": "1", "age": 1}
            )
            assert proxy.forwarded["DescribeTable"] == 1
            DynamoDbProxy(table_name=other, client=client).post(entity_class=Person, data=JEANNE)
            assert proxy.forwarded["DescribeTable"] == 2
            unchecked = DynamoDbProxy(
                table_name=f"{other}-never-checked", client=client, check_table=False
            )
            with pytest.raises(ResourceNotFound):
                unchecked.post(entity_class=Person, data=JEANNE)
            assert proxy.forwarded["DescribeTable"] == 2
    finally:
        ddb_admin.delete_table(ddb_endpoint, other)


@pytest.mark.parametrize("odd_table", [("SK", "PK")], indirect=True)
def test_async_tasks_share_one_describe_table_with_each_other_and_the_blocking_side(
    odd_table: str, proxy: FaultProxy, table: str
) -> None:
    async def run() -> None:
        async with AsyncClient(endpoint_url=proxy.url, transport="native") as client:
            db = AsyncDynamoDbProxy(table_name=table, client=client)
            await asyncio.gather(
                *(
                    db.post(entity_class=Person, data={**JEANNE, "id_number": str(n)})
                    for n in range(8)
                )
            )
            assert proxy.forwarded["DescribeTable"] == 1 and proxy.forwarded["PutItem"] == 8
            other = AsyncDynamoDbProxy(table_name=table, client=client)
            await other.patch(entity_class=Person, data={"id_number": "1", "age": 1})
            odd = AsyncDynamoDbProxy(table_name=odd_table, client=client)
            for verb in (odd.post, odd.put, odd.patch, odd.delete):
                with pytest.raises(ConfigurationError, match="hash key 'SK'"):
                    await verb(entity_class=Person, data=JEANNE)
        assert proxy.forwarded["DescribeTable"] == 2
        assert proxy.forwarded["UpdateItem"] == 1 and proxy.forwarded["PutItem"] == 8

    asyncio.run(run())
    with Client(endpoint_url=proxy.url, transport="native") as client:
        DynamoDbProxy(table_name=table, client=client).delete(
            entity_class=Person, data={"id_number": "1"}
        )
    assert proxy.forwarded["DescribeTable"] == 2  # the blocking proxy knew the table too


def test_a_task_cancelled_while_checking_the_table_leaves_the_check_to_the_others(
    ddb_endpoint: str, table: str
) -> None:
    async def run(proxy: FaultProxy) -> None:
        async with AsyncClient(endpoint_url=proxy.url, transport="native") as client:
            db = AsyncDynamoDbProxy(table_name=table, client=client)
            tasks = [
                asyncio.ensure_future(
                    db.post(entity_class=Person, data={**JEANNE, "id_number": str(n)})
                )
                for n in range(4)
            ]
            while not proxy.received["DescribeTable"]:  # the check is under way (stalled)
                await asyncio.sleep(0.01)
            tasks[0].cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(outcomes[0], asyncio.CancelledError)
        assert [o["id_number"] for o in outcomes[1:]] == ["1", "2", "3"]  # type: ignore[index]
        assert proxy.forwarded["DescribeTable"] == 1 and proxy.forwarded["PutItem"] == 3

    with FaultProxy(ddb_endpoint, stall_seconds=0.3) as proxy:
        proxy.inject("stall", operation="DescribeTable")
        asyncio.run(run(proxy))


@pytest.mark.parametrize("kind", KINDS)
def test_a_denied_describe_table_names_the_permission_and_the_opt_out(
    kind: str, proxy: FaultProxy, table: str
) -> None:
    def deny(request: dict[str, Any], response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 400, {
            "__type": "com.amazon.coral.service#AccessDeniedException",
            "message": "not authorized to perform: dynamodb:DescribeTable",
        }

    proxy.inject_rewrite(deny, operation="DescribeTable")
    with make_client(kind, endpoint_url=proxy.url, transport="native") as client:
        with pytest.raises(ConfigurationError, match="dynamodb:DescribeTable.*check_table=False"):
            proxy_for(client, table_name=table).post(entity_class=Person, data=JEANNE)
        unchecked = proxy_for(client, table_name=table, check_table=False)
        assert unchecked.post(entity_class=Person, data=JEANNE) == JEANNE
