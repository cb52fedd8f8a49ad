"""dynamore.streams.changes on real stream records: a table with a stream on DynamoDB Local,
writes through the proxy, the records read back with the Streams API and handed over as the
Lambda event AWS builds from them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest

from dynamore import Client
from dynamore._tables import table_definition
from dynamore.dynamodb_proxy import DynamoDbProxy
from dynamore.entity import LEGACY_SORT_KEY_FORMAT, Entity
from dynamore.exceptions import ValidationError
from dynamore.streams import Change, changes
from tests import ddb_admin
from tests.rest_kit import Counter, Person


class OldDoc(Entity):
    """Stored the dynamore 0.1 way: ``SK = "#OLDDOC#<id>"``."""

    SCHEMA = {
        "title": "OLDDOC",
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string"}, "text": {"type": "string"}},
    }
    ID_ATTRIBUTE = "id"
    SORT_KEY_FORMAT = LEGACY_SORT_KEY_FORMAT


class Reading(Entity):
    SCHEMA = {
        "title": "READING",
        "type": "object",
        "properties": {"id": {"type": "string"}, "w": {"type": "number"}},
    }
    ID_ATTRIBUTE = "id"


@pytest.fixture
def streamed(ddb_endpoint: str, client: Client) -> Iterator[tuple[str, str]]:
    """A table with a NEW_AND_OLD_IMAGES stream: (table name, stream ARN)."""
    name = f"streams-{uuid.uuid4().hex[:10]}"
    definition = table_definition(name, [Person, Counter])
    definition["StreamSpecification"] = {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    created = client.call("CreateTable", definition)
    client.wait_for_table(name)
    try:
        yield name, created["TableDescription"]["LatestStreamArn"]
    finally:
        ddb_admin.delete_table(ddb_endpoint, name)


def lambda_event(endpoint: str, stream_arn: str) -> dict[str, Any]:
    """Every record of the stream, read with the Streams API, as the event Lambda's event
    source mapping would deliver: the API's records plus ``eventSourceARN``, and the
    approximate creation time as epoch seconds."""
    streams = boto3.client(
        "dynamodbstreams",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    records = []
    shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator)
            records += page["Records"]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    streams.close()
    for record in records:
        stream = record["dynamodb"]
        stream["ApproximateCreationDateTime"] = stream["ApproximateCreationDateTime"].timestamp()
        record["eventSourceARN"] = stream_arn
    records.sort(key=lambda r: r["dynamodb"]["SequenceNumber"])
    return {"Records": records}


def test_writes_through_the_proxy_come_back_as_typed_changes(
    streamed: tuple[str, str], client: Client, ddb_endpoint: str
) -> None:
    table, arn = streamed
    db = DynamoDbProxy(table_name=table, client=client)
    db.post(entity_class=Person, data={"id_number": "7", "name": "Ann", "age": 30})
    db.patch(entity_class=Person, data={"id_number": "7", "age": 31})
    db.post(entity_class=Counter, data={"n": 42})
    client.put_item(table, {"PK": "STRANGER", "SK": "x1", "what": "not an entity of ours"})
    db.delete(entity_class=Person, data={"id_number": "7"})

    got = changes(lambda_event(ddb_endpoint, arn), [Person, Counter])

    assert [(c.event_name, c.entity_class, c.id) for c in got] == [
        ("INSERT", Person, "7"),
        ("MODIFY", Person, "7"),
        ("INSERT", Counter, 42),
        ("INSERT", None, None),
        ("REMOVE", Person, "7"),
    ]
    insert, modify, counter, stranger, remove = got
    assert insert.new == {"id_number": "7", "name": "Ann", "age": 30} and insert.old is None
    assert modify.old == insert.new and modify.new == {**insert.new, "age": 31}
    assert counter.new == {"n": 42} and counter.keys == {"PK": "COUNTER", "SK": "42"}
    # The item of no given type is reported whole, keys included.
    assert stranger.new == {"PK": "STRANGER", "SK": "x1", "what": "not an entity of ours"}
    assert stranger.keys == {"PK": "STRANGER", "SK": "x1"}
    assert remove.new is None and remove.old == modify.new and not remove.expired
    assert all(isinstance(c, Change) and c.sequence_number for c in got)


def test_records_without_images_and_ttl_deletions(
    streamed: tuple[str, str], client: Client, ddb_endpoint: str
) -> None:
    table, arn = streamed
    db = DynamoDbProxy(table_name=table, client=client)
    db.post(entity_class=Counter, data={"n": 5})
    db.delete(entity_class=Counter, data={"n": 5})
    client.put_item(table, {"PK": "OLDDOC", "SK": "#OLDDOC#d1", "id": "d1", "text": "t"})
    event = lambda_event(ddb_endpoint, arn)
    # A KEYS_ONLY stream's records: the same, without images.
    for record in event["Records"]:
        record["dynamodb"].pop("NewImage", None)
        record["dynamodb"].pop("OldImage", None)
    # A TTL deletion, as AWS marks it.
    event["Records"][1]["userIdentity"] = {
        "type": "Service",
        "principalId": "dynamodb.amazonaws.com",
    }
    got = changes(event, [Counter, OldDoc])
    assert [(c.event_name, c.entity_class, c.id, c.new, c.old) for c in got] == [
        ("INSERT", Counter, 5, None, None),  # the integer id, read from the sort key
        ("REMOVE", Counter, 5, None, None),
        ("INSERT", OldDoc, "d1", None, None),  # the legacy format's prefix removed
    ]
    assert [c.expired for c in got] == [False, True, False]


def test_numbers_as_decimal_on_request(
    streamed: tuple[str, str], client: Client, ddb_endpoint: str
) -> None:
    table, arn = streamed
    DynamoDbProxy(table_name=table, client=client).post(
        entity_class=Reading, data={"id": "r", "w": 0.1}
    )
    (exact,) = changes(lambda_event(ddb_endpoint, arn), [Reading], use_decimal=True)
    assert exact.new == {"id": "r", "w": Decimal("0.1")}
    (plain,) = changes(lambda_event(ddb_endpoint, arn), [Reading])
    assert plain.new == {"id": "r", "w": 0.1}


@pytest.mark.parametrize(
    "event, message",
    [
        ({}, "list of Records"),
        ({"Records": [{"eventName": "INSERT"}]}, r"Records\[0\]"),
        ({"Records": "no"}, "list of Records"),
    ],
)
def test_what_is_no_stream_event_is_a_validation_error(event: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        changes(event, [Person])


def test_entities_must_be_entity_classes() -> None:
    with pytest.raises(ValidationError, match="not an Entity subclass"):
        changes({"Records": []}, [dict])  # type: ignore[list-item]


class ShardedReading(Reading):
    """READING spread over four partitions (``READING#0`` .. ``READING#3``)."""

    PARTITION_SHARDS = 4


def test_records_of_every_shard_of_a_sharded_type_are_recognised(
    streamed: tuple[str, str], client: Client, ddb_endpoint: str
) -> None:
    table, arn = streamed
    db = DynamoDbProxy(table_name=table, client=client, check_table=False)
    ids = [f"r{n}" for n in range(12)]
    for id_ in ids:
        db.post(entity_class=ShardedReading, data={"id": id_, "w": 1})
    got = changes(lambda_event(ddb_endpoint, arn), [ShardedReading])
    assert [(c.entity_class, c.id) for c in got] == [(ShardedReading, id_) for id_ in ids]
    assert {c.keys["PK"] for c in got} == set(ShardedReading.partitions())
    # The unsharded type of the same title reads only its own partition: these are not its.
    assert {c.entity_class for c in changes(lambda_event(ddb_endpoint, arn), [Reading])} == {None}
