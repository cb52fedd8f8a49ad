"""Client operations against DynamoDB Local: items, query/scan paging, GSI, transactions,
tables, the raw ``call`` escape hatch and error mapping. Each behaviour runs against both
clients (``Client`` and ``AsyncClient``, through tests/client_kit.py) unless it is about
threads."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Callable

import pytest

from dynamore import Client, Page, RetryPolicy
from dynamore._credentials import CredentialProvider
from dynamore.exceptions import (
    ConditionalCheckFailed,
    ConfigurationError,
    DynamoreError,
    ResourceNotFound,
    ServiceError,
    ServiceValidationError,
    TransactionCanceled,
    ValidationError,
)
from tests.client_kit import KINDS, make_client

Item = dict[str, Any]
MakeClient = Callable[..., Client]


@pytest.fixture(params=KINDS)
def make(request: pytest.FixtureRequest, ddb_endpoint: str) -> Iterator[MakeClient]:
    """Builds clients of the test's kind for DynamoDB Local (closed after the test)."""
    made: list[Any] = []

    def build(**options: Any) -> Client:
        made.append(make_client(request.param, endpoint_url=ddb_endpoint, **options))
        return made[-1]  # type: ignore[no-any-return]

    yield build
    for c in made:
        c.close()


@pytest.fixture
def client(make: MakeClient) -> Client:
    """A client of the test's kind (both kinds, one after the other)."""
    return make()


def test_put_get_update_delete_round_trip(client: Client, table: str) -> None:
    item = {
        "PK": "P",
        "SK": "1",
        "name": "Jeanne",
        "age": 123,
        "score": 1.5,
        "tags": {"a", "b"},
        "meta": {"nested": [1, "two", None, True]},
        "blob": b"\x00\xff",
    }
    assert client.put_item(table, item) is None
    assert client.get_item(table, {"PK": "P", "SK": "1"}) == item
    assert client.get_item(table, {"PK": "P", "SK": "missing"}) is None
    assert client.get_item(table, {"PK": "P", "SK": "1"}, projection=["name", "age"]) == {
        "name": "Jeanne",
        "age": 123,
    }
    new = client.update_item(
        table,
        {"PK": "P", "SK": "1"},
        update="SET #n = :n ADD age :one",
        names={"#n": "name"},
        values={":n": "Jean", ":one": 1},
        return_values="ALL_NEW",
    )
    assert new is not None and new["name"] == "Jean" and new["age"] == 124
    old = client.delete_item(table, {"PK": "P", "SK": "1"}, return_values="ALL_OLD")
    assert old is not None and old["name"] == "Jean"
    assert client.get_item(table, {"PK": "P", "SK": "1"}, consistent=True) is None


def test_put_returns_old_item_and_use_decimal(make: MakeClient, table: str) -> None:
    with make(use_decimal=True) as client:
        client.put_item(table, {"PK": "P", "SK": "1", "x": Decimal("1.25"), "n": 3})
        old = client.put_item(table, {"PK": "P", "SK": "1"}, return_values="ALL_OLD")
        assert old == {"PK": "P", "SK": "1", "x": Decimal("1.25"), "n": 3}
        assert isinstance(old["x"], Decimal) and isinstance(old["n"], int)


def test_every_read_path_follows_the_number_policy(make: MakeClient, table: str) -> None:
    item = {"PK": "D", "SK": "1", "x": Decimal("0.1000000000000000000000000000000000001")}
    key = {"PK": "D", "SK": "1"}
    for use_decimal, want in ((True, item["x"]), (False, 0.1)):
        with make(use_decimal=use_decimal) as client:
            client.put_item(table, item)
            got = [
                client.get_item(table, key),
                client.query(table, "PK = :p", values={":p": "D"}).items[0],
                next(client.scan_all(table)),
                client.batch_get(table, [key])[0],
                client.transact_get([(table, key)])[0],
                client.delete_item(table, key, return_values="ALL_OLD"),
            ]
            client.put_item(table, item)
            with pytest.raises(ConditionalCheckFailed) as info:
                client.put_item(
                    table,
                    item,
                    condition="attribute_not_exists(PK)",
                    return_values_on_failure="ALL_OLD",
                )
            got.append(info.value.item)
            for read in got:
                assert read is not None and read["x"] == want
                assert type(read["x"]) is type(want)
            client.delete_item(table, key)


def offline_client(**options: Any) -> Client:
    return Client(
        endpoint_url="http://127.0.0.1:9", region="us-east-1", credentials=("AKID", "s"), **options
    )


def test_retry_takes_a_number_of_attempts_or_a_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    assert offline_client().retry == RetryPolicy(max_attempts=3)
    assert offline_client(retry=5).retry == RetryPolicy(max_attempts=5)
    policy = RetryPolicy(max_attempts=2, throttle_base=0.5)
    assert offline_client(retry=policy).retry is policy
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")
    assert offline_client().retry.max_attempts == 7
    assert offline_client(retry=2).retry.max_attempts == 2  # an explicit number wins
    for bad in ("3", 2.0, True, 0, [3]):
        with pytest.raises(ConfigurationError, match="^retry must be"):
            offline_client(retry=bad)


def test_max_attempts_is_a_deprecated_spelling_of_retry() -> None:
    with pytest.warns(DeprecationWarning, match="retry=") as warned:
        assert offline_client(max_attempts=4).retry.max_attempts == 4
    assert warned[0].filename == __file__  # points at the caller
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigurationError, match="retry="):
        offline_client(max_attempts=4, retry=2)


def test_failed_condition_carries_the_current_item(client: Client, table: str) -> None:
    client.put_item(table, {"PK": "P", "SK": "1", "v": 1})
    with pytest.raises(ConditionalCheckFailed) as info:
        client.put_item(
            table,
            {"PK": "P", "SK": "1", "v": 2},
            condition="attribute_not_exists(PK)",
            return_values_on_failure="ALL_OLD",
        )
    assert info.value.item == {"PK": "P", "SK": "1", "v": 1}
    assert info.value.code == "ConditionalCheckFailedException"
    assert info.value.status == 400 and info.value.request_id
    with pytest.raises(ConditionalCheckFailed) as info:
        client.delete_item(table, {"PK": "P", "SK": "1"}, condition="v = :two", values={":two": 2})
    assert info.value.item is None
    assert client.get_item(table, {"PK": "P", "SK": "1"}) == {"PK": "P", "SK": "1", "v": 1}


def _fill(client: Client, table: str, pk: str, n: int, pad: int = 0) -> list[Item]:
    items = [{"PK": pk, "SK": f"{i:05d}", "i": i, "pad": "x" * pad} for i in range(n)]
    for item in items:
        client.put_item(table, item)
    return items


def test_query_pages_past_one_megabyte(client: Client, table: str) -> None:
    # 40 items of ~40 KB: over 1 MB in all, so DynamoDB must page.
    items = _fill(client, table, "BIG", 40, pad=40_000)
    first = client.query(table, "PK = :pk", values={":pk": "BIG"})
    assert isinstance(first, Page)
    assert first.last_key is not None and 0 < len(first.items) < 40
    got = list(client.query_all(table, "PK = :pk", values={":pk": "BIG"}))
    assert got == items
    second = client.query(table, "PK = :pk", values={":pk": "BIG"}, start_key=first.last_key)
    assert second.items[0] == items[len(first.items)]


def test_query_options(client: Client, table: str) -> None:
    items = _fill(client, table, "Q", 10)
    _fill(client, table, "OTHER", 3)
    page = client.query(
        table,
        "PK = :pk AND SK >= :s",
        values={":pk": "Q", ":s": "00005"},
        forward=False,
        limit=3,
        consistent=True,
    )
    assert page.items == items[::-1][:3] and page.last_key is not None
    # The items are decoded where they lie in the parsed answer; the last key is not: it
    # is kept as DynamoDB sent it, for the next request, and decoded apart.
    assert page.last_key == {"PK": "Q", "SK": "00007"}
    assert page.wire_last_key == {"PK": {"S": "Q"}, "SK": {"S": "00007"}}
    filtered = list(
        client.query_all(
            table,
            "PK = :pk",
            values={":pk": "Q", ":odd": 1},
            filter="i > :odd",
            projection=["i"],
            limit=2,
        )
    )
    assert filtered == [{"i": i} for i in range(2, 10)]


def test_scan_all_serial_and_parallel(client: Client, table: str) -> None:
    items = _fill(client, table, "S", 30)
    assert sorted(client.scan_all(table, limit=7), key=lambda i: i["SK"]) == items
    assert sorted(client.scan_all(table, segments=3), key=lambda i: i["SK"]) == items
    page = client.scan(table, limit=5)
    assert len(page.items) == 5 and page.last_key is not None
    assert list(client.scan_all(table, filter="i = :i", values={":i": 7})) == [items[7]]
    with pytest.raises(ValidationError):
        list(client.scan_all(table, segments=0))


def test_gsi_query(client: Client) -> None:
    name = f"gsi-{uuid.uuid4().hex[:8]}"
    description = client.create_table(name, indexes=[{"name": "byEmail", "pk": "email"}])
    try:
        assert description["TableStatus"] == "ACTIVE"
        client.put_item(name, {"PK": "U", "SK": "1", "email": "a@x"})
        client.put_item(name, {"PK": "U", "SK": "2", "email": "b@x"})
        got = list(client.query_all(name, "email = :e", values={":e": "b@x"}, index="byEmail"))
        assert [i["SK"] for i in got] == ["2"]
    finally:
        client.delete_table(name)
    with pytest.raises(ResourceNotFound):
        client.describe_table(name)


def test_transactions(client: Client, table: str) -> None:
    client.put_item(table, {"PK": "T", "SK": "a", "n": 1})
    client.transact_write(
        [
            {
                "Put": {
                    "table": table,
                    "item": {"PK": "T", "SK": "b", "n": 2},
                    "condition": "attribute_not_exists(PK)",
                }
            },
            {
                "Update": {
                    "table": table,
                    "key": {"PK": "T", "SK": "a"},
                    "update": "SET n = n + :one",
                    "values": {":one": 1},
                }
            },
        ]
    )
    got = client.transact_get(
        [
            (table, {"PK": "T", "SK": "a"}),
            (table, {"PK": "T", "SK": "b"}),
            {"table": table, "key": {"PK": "T", "SK": "zz"}},
        ]
    )
    assert got == [{"PK": "T", "SK": "a", "n": 2}, {"PK": "T", "SK": "b", "n": 2}, None]
    with pytest.raises(TransactionCanceled) as info:
        client.transact_write(
            [
                {"Delete": {"table": table, "key": {"PK": "T", "SK": "a"}}},
                {
                    "ConditionCheck": {
                        "table": table,
                        "key": {"PK": "T", "SK": "b"},
                        "condition": "n = :five",
                        "values": {":five": 5},
                        "return_values_on_failure": "ALL_OLD",
                    }
                },
            ]
        )
    reasons = info.value.reasons
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1].get("Item") == {"PK": "T", "SK": "b", "n": 2}
    # Cancelled: the delete in the same transaction did not happen.
    assert client.get_item(table, {"PK": "T", "SK": "a"}) is not None


def test_call_is_the_raw_escape_hatch(client: Client, table: str) -> None:
    assert table in client.call("ListTables", {})["TableNames"]
    client.call("PutItem", {"TableName": table, "Item": {"PK": {"S": "R"}, "SK": {"S": "1"}}})
    raw = client.call("GetItem", {"TableName": table, "Key": {"PK": {"S": "R"}, "SK": {"S": "1"}}})
    assert raw["Item"] == {"PK": {"S": "R"}, "SK": {"S": "1"}}


def test_service_errors_are_typed(client: Client, table: str) -> None:
    with pytest.raises(ResourceNotFound) as info:
        client.get_item("no-such-table", {"PK": "a", "SK": "b"})
    assert info.value.code == "ResourceNotFoundException" and info.value.message
    with pytest.raises(ServiceValidationError):
        client.get_item(table, {"PK": "a"})  # the key misses SK
    with pytest.raises(ServiceError) as unknown:
        client.call("NoSuchOperation", {})
    assert isinstance(unknown.value, DynamoreError) and unknown.value.code
    with pytest.raises(ValidationError, match="return_values"):
        client.put_item(table, {"PK": "a", "SK": "b"}, return_values="EVERYTHING")


def test_bad_values_fail_before_sending(client: Client, table: str) -> None:
    with pytest.raises(ValueError):
        client.put_item(table, {"PK": "a", "SK": "b", "x": float("nan")})
    with pytest.raises(TypeError):
        client.put_item(table, {"PK": "a", "SK": "b", "x": object()})
    with pytest.raises(ValidationError):
        client.put_item(table, {"PK": "a", "SK": "b", "x": "\ud800"})
    assert client.scan(table).items == []


def test_client_is_shared_between_threads(dynamore_client: Client, table: str) -> None:
    client = dynamore_client
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                client.put_item(table, {"PK": f"T{n}", "SK": str(i)})
                assert client.get_item(table, {"PK": f"T{n}", "SK": str(i)}) is not None
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(list(client.scan_all(table))) == 160
    assert "idle=" in repr(client.transport)


def test_repr_and_errors_never_show_secrets(make: MakeClient, table: str) -> None:
    secret = "s3cr3t-" + uuid.uuid4().hex
    with make(credentials=("AKIDEXAMPLE", secret, "tok-" + secret)) as c:
        with pytest.raises(ServiceError) as info:
            c.get_item("no-such-table", {"PK": "a", "SK": "b"})
        provider = c._wire.credentials
        current = provider.get() if isinstance(provider, CredentialProvider) else provider.current()
        texts = [repr(c), str(info.value), repr(info.value), repr(provider), repr(current)]
        assert "AKIDEXAMPLE" in texts[-1]
    assert all(secret not in t for t in texts)


def test_paging_resends_the_exact_key_even_when_floats_cannot_hold_it(client: Client) -> None:
    name = f"num-{uuid.uuid4().hex[:8]}"
    client.create_table(name, sk_type="N")
    try:
        keys = [Decimal("1.00000000000000000001"), Decimal("1.00000000000000000002"), 2]
        for sk in keys:
            client.put_item(name, {"PK": "N", "SK": sk})
        got = list(client.query_all(name, "PK = :pk", values={":pk": "N"}, limit=1))
        assert len(got) == 3  # decoded as floats the first two look alike; paging still ends
    finally:
        client.delete_table(name)


def test_malformed_arguments_are_validation_errors_naming_the_place(
    client: Client, table: str
) -> None:
    with pytest.raises(ValidationError, match=r"actions\[1\]\.Put\.table"):
        client.transact_write(
            [
                {"Put": {"table": table, "item": {"PK": "a", "SK": "b"}}},
                {"Put": {"item": {"PK": "a", "SK": "c"}}},
            ]
        )
    with pytest.raises(ValidationError, match=r"actions\[0\]\.Delete\.return_values_on_failure"):
        client.transact_write(
            [
                {
                    "Delete": {
                        "table": table,
                        "key": {"PK": "a", "SK": "b"},
                        "return_values_on_failure": "ALL_NEW",
                    }
                }
            ]
        )
    with pytest.raises(ValidationError, match=r"keys\[0\]\.key"):
        client.transact_get([{"table": table}])
    with pytest.raises(ValidationError, match=r"indexes\[0\]\.pk"):
        client.create_table("never-created", indexes=[{"name": "x"}])
    with pytest.raises(ValidationError, match="#proj0"):
        client.query(
            table, "PK = :pk", values={":pk": "a"}, names={"#proj0": "x"}, projection=["a"]
        )
    assert client.scan(table).items == []
