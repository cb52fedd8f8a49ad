"""dynamore 0.1.1 compatibility: what its own tests (villekr/dynamore, tests/) did still works,
and its hooks get the arguments 0.1.1 gave them, verb by verb (the README's table)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

import pytest

from dynamore import Client
from dynamore.dynamodb_proxy import AlreadyExists, DynamoDbProxy, NotFound, PreconditionFailed
from dynamore.entity import Entity
from dynamore.exceptions import ValidationError
from tests.client_kit import KINDS, make_client
from tests.proxy_kit import proxy_for

Item = dict[str, Any]


class Person(Entity):  # 0.1.1's test entity, its README's "min"/"max" keywords included
    SCHEMA = {
        "title": "PERSON",
        "type": "object",
        "required": ["name", "age", "gender", "id_number"],
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 0, "maximum": 123},
            "gender": {"type": "string", "enum": ["male", "female"]},
            "id_number": {"type": "string"},
        },
        "additionalProperties": False,
    }
    ID_ATTRIBUTE = "id_number"


JEANNE = {"name": "Jeanne", "age": 123, "gender": "female", "id_number": "123456"}
KEYS = {"PK": "PERSON", "SK": "123456"}


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, ddb_endpoint: str, table: str) -> Iterator[Any]:
    """The proxy under test: DynamoDbProxy, or AsyncDynamoDbProxy behind a blocking facade."""
    with make_client(request.param, endpoint_url=ddb_endpoint) as c:
        yield proxy_for(c, table_name=table)


def test_make_entity_from_the_base_class() -> None:
    entity = Entity({})
    assert entity.data() == {} and entity.attributes == {}
    with pytest.raises(ValueError):  # the base SCHEMA allows no attributes at all
        Entity({"x": 1})
    with pytest.raises(ValidationError, match="uid"):  # an id is needed for a key, not for data
        entity.identity()


def test_make_person() -> None:
    assert Person(JEANNE).data() == JEANNE
    with pytest.raises(ValueError):
        Person({**JEANNE, "age": "old"})


def test_entity_validates_against_its_schema_only() -> None:
    class Loose(Entity):
        SCHEMA = {"title": "LOOSE", "type": "object", "properties": {"uid": {"type": "string"}}}

    assert Loose({"name": "no id"}).data() == {"name": "no id"}  # 0.1.1 accepted it
    with pytest.raises(ValidationError, match="uid: the id attribute is required"):
        Loose({"name": "no id"}).data_with_identity()


def test_a_missing_id_is_an_error_of_the_verb_that_needs_a_key(
    db: DynamoDbProxy, client: Client, table: str
) -> None:
    class Loose(Entity):
        SCHEMA = {"title": "LOOSE", "type": "object", "properties": {"uid": {"type": "string"}}}

    for verb in (db.post, db.put, db.patch, db.delete):
        with pytest.raises(ValidationError, match="uid: the id attribute is required"):
            verb(entity_class=Loose, data={"name": "no id"})
    assert client.scan(table).items == []


def test_post_get_get_all_delete(db: DynamoDbProxy) -> None:
    item = db.post(entity_class=Person, data=JEANNE)
    assert item == JEANNE and type(item) is dict
    assert db.get(entity_class=Person, data={"id_number": item["id_number"]}) == item
    assert db.get(entity_class=Person) == [item]
    assert db.delete(entity_class=Person, data={"id_number": "123456"}) == item
    assert db.get(entity_class=Person, data={"id_number": "123456"}) is None  # 0.1.1's last fix
    assert db.get(entity_class=Person, data={}) == []


def test_errors_keep_their_import_path_and_meaning(db: DynamoDbProxy) -> None:
    db.post(entity_class=Person, data=JEANNE)
    with pytest.raises(AlreadyExists):
        db.post(entity_class=Person, data=JEANNE)
    with pytest.raises(NotFound):
        db.put(entity_class=Person, data={**JEANNE, "id_number": "404"})
    with pytest.raises(NotFound):
        db.patch(entity_class=Person, data={"id_number": "404", "age": 1})
    with pytest.raises(NotFound):
        db.delete(entity_class=Person, data={"id_number": "404"})


def test_readme_example_with_the_default_client(
    ddb_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dynamore.dynamodb_proxy as module

    monkeypatch.setenv("DDB_ENDPOINT", ddb_endpoint)  # 0.1.1's variable
    monkeypatch.setattr(module, "_shared", None)
    db = DynamoDbProxy(table_name=table)
    try:
        db.post(entity_class=Person, data=JEANNE)
        assert db.get(entity_class=Person, data={"id_number": "123456"}) == JEANNE
        assert db.get(entity_class=Person) == [JEANNE]
    finally:
        db.client.close()


class Recorded(Person):
    """Person whose hooks record their arguments. Keyword-only parameters: 0.1.1 passed every
    argument by name, so hooks written against it may rely on the names alone."""

    calls: list[tuple[str, dict[str, Any]]] = []
    refuse = False

    @classmethod
    def pre(cls, *, http_method: str, data: Item, **rest: Any) -> bool:
        cls.calls.append(("pre", {"http_method": http_method, "data": data, **rest}))
        return not cls.refuse

    @classmethod
    def post(cls, *, http_method: str, data: Item, **rest: Any) -> Any:
        cls.calls.append(("post", {"http_method": http_method, "data": data, **rest}))
        return True

    def add_dynamic_attributes(self, item: Item) -> None:
        item["initials"] = item["name"][0]


def test_hooks_get_0_1_1_arguments_verb_by_verb(db: DynamoDbProxy) -> None:
    Recorded.calls = []
    stored = {**JEANNE, **KEYS, "initials": "J"}  # the item as stored: keys, dynamic attributes
    db.post(entity_class=Recorded, data=JEANNE)
    assert Recorded.calls == [
        ("pre", {"http_method": "POST", "data": stored}),
        ("post", {"http_method": "POST", "data": stored}),
    ]

    Recorded.calls = []
    replaced = {**stored, "name": "Anne", "initials": "A"}
    db.put(entity_class=Recorded, data={**JEANNE, "name": "Anne"})
    assert Recorded.calls == [
        ("pre", {"http_method": "PUT", "data": replaced, "existing_item": stored}),
        ("post", {"http_method": "PUT", "data": replaced, "existing_item": stored}),
    ]

    Recorded.calls = []
    patch = {"id_number": "123456", "age": 50}
    db.patch(entity_class=Recorded, data=patch)
    merged = {**replaced, "age": 50}
    assert Recorded.calls == [
        ("pre", {"http_method": "PATCH", "data": patch, "existing_item": replaced}),
        ("post", {"http_method": "PATCH", "data": patch, "existing_item": merged}),
    ]

    Recorded.calls = []
    assert db.delete(entity_class=Recorded, data={"id_number": "123456"}) == {
        **JEANNE,
        "name": "Anne",
        "age": 50,
        "initials": "A",
    }
    deleted = {k: v for k, v in merged.items() if k not in KEYS}
    assert Recorded.calls == [
        ("pre", {"http_method": "DELETE", "data": deleted}),
        ("post", {"http_method": "DELETE", "data": deleted}),
    ]


@pytest.mark.parametrize("verb", ["post", "put", "patch", "delete"])
def test_a_pre_hook_returning_false_writes_nothing(
    verb: str, db: DynamoDbProxy, client: Client, table: str
) -> None:
    if verb != "post":
        db.post(entity_class=Person, data=JEANNE)
    before = client.scan(table).items
    Recorded.calls, Recorded.refuse = [], True
    try:
        with pytest.raises(PreconditionFailed):
            data = JEANNE if verb in ("post", "put") else {"id_number": "123456", "age": 1}
            getattr(db, verb)(entity_class=Recorded, data=data)
    finally:
        Recorded.refuse = False
    assert client.scan(table).items == before
    assert [c[0] for c in Recorded.calls] == ["pre"]


def test_a_post_hook_returning_false_changes_nothing(db: DynamoDbProxy) -> None:
    class Indifferent(Person):
        @classmethod
        def post(cls, http_method: str, data: Item, existing_item: Optional[Item] = None) -> Any:
            return False  # 0.1.1 logged it and carried on

    assert db.post(entity_class=Indifferent, data=JEANNE) == JEANNE
