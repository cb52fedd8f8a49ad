"""table_definition: the CreateTable request an entity set needs."""

from __future__ import annotations

from typing import Any

import pytest

from dynamore._payloads import create_table_payload
from dynamore._tables import table_definition
from dynamore.entity import Entity
from dynamore.exceptions import ConfigurationError

SCHEMA: dict[str, Any] = {
    "title": "Person",
    "type": "object",
    "properties": {"id": {"type": "string"}, "gender": {"type": "string"}},
}


class Person(Entity):
    SCHEMA = SCHEMA
    ID_ATTRIBUTE = "id"
    INDEXES = {"GSI1": {"partition": ["gender"], "sort": ["id"]}}


class Tag(Entity):
    SCHEMA = {**SCHEMA, "title": "Tag"}
    ID_ATTRIBUTE = "id"
    INDEXES = {"GSI1": {"partition": ["gender"], "sort": ["id"]}, "GSI2": {"sort": ["gender"]}}


def test_keys_indexes_and_billing() -> None:
    definition = table_definition("T", [Person, Tag])
    assert definition["TableName"] == "T"
    assert definition["BillingMode"] == "PAY_PER_REQUEST"
    assert definition["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}
    assert types == {
        "PK": "S",
        "SK": "S",
        "GSI1PK": "S",
        "GSI1SK": "S",
        "GSI2PK": "S",
        "GSI2SK": "S",
    }
    gsis = {g["IndexName"]: g for g in definition["GlobalSecondaryIndexes"]}
    assert gsis["GSI1"]["KeySchema"] == [
        {"AttributeName": "GSI1PK", "KeyType": "HASH"},
        {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
    ]
    # Entity checks INDEXES: every index has sort attributes (an empty NSK is no key value).
    assert gsis["GSI2"]["KeySchema"] == [
        {"AttributeName": "GSI2PK", "KeyType": "HASH"},
        {"AttributeName": "GSI2SK", "KeyType": "RANGE"},
    ]
    assert all(g["Projection"] == {"ProjectionType": "ALL"} for g in gsis.values())


def test_the_request_is_the_one_client_create_table_sends() -> None:
    # One builder for both: an index declared by an entity is the GSI create_table would make.
    gsi = {"name": "GSI1", "pk": "GSI1PK", "sk": "GSI1SK"}
    expected = create_table_payload("T", pk="PK", sk="SK", pk_type="S", sk_type="S", indexes=[gsi])
    assert table_definition("T", [Person]) == expected


def test_no_entities_gives_the_default_keys() -> None:
    definition = table_definition("T", [])
    assert [k["AttributeName"] for k in definition["KeySchema"]] == ["PK", "SK"]
    assert "GlobalSecondaryIndexes" not in definition


def test_entities_with_other_keys_are_refused() -> None:
    class Odd(Entity):
        SCHEMA = {**SCHEMA, "title": "Odd"}
        ID_ATTRIBUTE = "id"

        @classmethod
        def pr_keys(cls) -> list[str]:
            return ["pk", "sk"]

    with pytest.raises(ConfigurationError, match=r"Odd keys \['pk', 'sk'\] differ from Person"):
        table_definition("T", [Person, Odd])


def test_the_definition_creates_a_table(client: Any) -> None:
    name = "tables-definition"
    client.call("CreateTable", table_definition(name, [Person, Tag]))
    try:
        described = client.wait_for_table(name)
        assert sorted(g["IndexName"] for g in described["GlobalSecondaryIndexes"]) == [
            "GSI1",
            "GSI2",
        ]
    finally:
        client.delete_table(name)
