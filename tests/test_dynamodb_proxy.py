"""DynamoDbProxy's REST verbs against DynamoDB Local: the verb matrix, races, paging, the 0.1.x
layout switch, attributes the entity does not own, key rules, and the backoff of read-merge-write.
(Exactly-once create: test_dynamodb_proxy_create; the table check: test_dynamodb_proxy_table;
hooks: test_compat_0_1.)"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any, Optional

import pytest

from dynamore import AsyncClient, Client
from dynamore.dynamodb_proxy import (
    AlreadyExists,
    AsyncDynamoDbProxy,
    DynamoDbProxy,
    NotFound,
    guarded_write_delay,
)
from dynamore.entity import LEGACY_SORT_KEY_FORMAT, Entity
from dynamore.exceptions import ConcurrentUpdate, InvalidCursor, ValidationError
from tests.client_kit import KINDS, make_client
from tests.kit import JEANNE, PERSON_SCHEMA, Person
from tests.proxy_kit import proxy_for

Item = dict[str, Any]


class Note(Entity):
    SCHEMA = {
        "title": "NOTE",
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"type": "string"}, "text": {}, "value": {}},
    }
    ID_ATTRIBUTE = "id"


@pytest.fixture(params=KINDS)
def any_client(request: pytest.FixtureRequest, ddb_endpoint: str) -> Iterator[Any]:
    """A Client, or an AsyncClient behind a blocking facade (see tests/proxy_kit.py)."""
    with make_client(request.param, endpoint_url=ddb_endpoint) as c:
        yield c


@pytest.fixture
def db(any_client: Any, table: str) -> Any:
    """The proxy under test: DynamoDbProxy, or AsyncDynamoDbProxy behind a blocking facade."""
    return proxy_for(any_client, table_name=table)


@pytest.fixture
def sync_db(client: Client, table: str) -> DynamoDbProxy:
    return DynamoDbProxy(table_name=table, client=client)


def test_verb_matrix(db: DynamoDbProxy, client: Client, table: str) -> None:
    assert db.post(entity_class=Person, data=JEANNE) == JEANNE
    assert client.get_item(table, {"PK": "PERSON", "SK": "123456"}) == {
        **JEANNE,
        "PK": "PERSON",
        "SK": "123456",
    }
    with pytest.raises(AlreadyExists):
        db.post(entity_class=Person, data={**JEANNE, "name": "Other"})
    assert db.get(entity_class=Person, data={"id_number": "123456"}) == JEANNE
    assert db.get(entity_class=Person, data={"id_number": "nope"}) is None
    assert db.get(entity_class=Person) == [JEANNE]

    replaced = {**JEANNE, "name": "Jeanne B"}
    assert db.put(entity_class=Person, data=replaced) == replaced
    with pytest.raises(NotFound):
        db.put(entity_class=Person, data={**JEANNE, "id_number": "404"})

    assert db.patch(entity_class=Person, data={"id_number": "123456", "age": 50}) == {
        **replaced,
        "age": 50,
    }
    with pytest.raises(NotFound):
        db.patch(entity_class=Person, data={"id_number": "404", "age": 50})
    with pytest.raises(ValidationError, match="age"):
        db.patch(entity_class=Person, data={"id_number": "123456", "age": 500})
    with pytest.raises(ValidationError, match="additional"):
        db.patch(entity_class=Person, data={"id_number": "123456", "bogus": 1})

    assert db.delete(entity_class=Person, data={"id_number": "123456"}) == {**replaced, "age": 50}
    with pytest.raises(NotFound):
        db.delete(entity_class=Person, data={"id_number": "123456"})
    assert db.get(entity_class=Person) == []


def test_invalid_data_writes_nothing(db: DynamoDbProxy, client: Client, table: str) -> None:
    with pytest.raises(ValidationError):
        db.post(entity_class=Person, data={**JEANNE, "gender": "other"})
    with pytest.raises(ValidationError, match="PK"):
        db.post(entity_class=Person, data={**JEANNE, "PK": "X"})
    with pytest.raises(ValueError):
        db.post(entity_class=Note, data={"id": "n", "value": float("inf")})
    with pytest.raises(TypeError):
        db.post(entity_class=Note, data={"id": "n", "value": object()})
    assert client.scan(table).items == []


def test_twelve_threads_posting_one_id_exactly_one_wins(sync_db: DynamoDbProxy) -> None:
    db = sync_db
    barrier = threading.Barrier(12)
    outcomes: list[str] = []
    lock = threading.Lock()

    def post(n: int) -> None:
        barrier.wait()
        try:
            db.post(entity_class=Person, data={**JEANNE, "name": f"writer {n}"})
            result = "created"
        except AlreadyExists:
            result = "exists"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created"] + ["exists"] * 11


def test_listing_more_than_a_megabyte_and_types_never_mix(db: DynamoDbProxy) -> None:
    big = "x" * 30_000
    for i in range(40):
        db.post(entity_class=Note, data={"id": f"{i:03d}", "text": big})
    db.post(entity_class=Person, data=JEANNE)
    notes = db.get(entity_class=Note)
    assert len(notes) == 40 and {n["id"] for n in notes} == {f"{i:03d}" for i in range(40)}
    assert db.get(entity_class=Person) == [JEANNE]


JSON_VALUES: list[Any] = [
    0,
    -1,
    2**63,
    10**37,
    12345678901234567890123456789012345678,
    1.5,
    -0.25,
    1e-100,
    3.0,
    "",
    "unicode ✓ 𝄞",
    None,
    True,
    False,
    [],
    {},
    [[], {}],
    {"a": {"b": [1, 2.5, None]}},
]


@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
def test_json_values_round_trip(db: DynamoDbProxy, value: Any) -> None:
    db.post(entity_class=Note, data={"id": "v", "value": value})
    got = db.get(entity_class=Note, data={"id": "v"})
    assert got == {"id": "v", "value": value}
    assert type(got["value"]) is type(value) or value == 3.0  # noqa: E721


def test_integral_float_rule(db: DynamoDbProxy) -> None:
    # DynamoDB stores decimals and normalises 3.0 to 3: the value survives, the float type
    # does not (documented in dynamore.codec).
    db.post(entity_class=Note, data={"id": "f", "value": 3.0})
    assert db.get(entity_class=Note, data={"id": "f"})["value"] == 3


def test_patch_with_cross_attribute_rules_validates_the_merged_item(db: DynamoDbProxy) -> None:
    class Account(Entity):
        SCHEMA = {
            "title": "ACCOUNT",
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string"},
                "card": {"type": "string"},
                "billing": {"type": "string"},
            },
            "dependencies": {"card": ["billing"]},
        }
        ID_ATTRIBUTE = "id"

    db.post(entity_class=Account, data={"id": "a"})
    with pytest.raises(ValidationError):
        db.patch(entity_class=Account, data={"id": "a", "card": "4111"})
    db.patch(entity_class=Account, data={"id": "a", "billing": "home"})
    assert db.patch(entity_class=Account, data={"id": "a", "card": "4111"}) == {
        "id": "a",
        "billing": "home",
        "card": "4111",
    }


def test_concurrent_change_during_read_merge_write_is_never_overwritten(
    db: DynamoDbProxy, client: Client, table: str
) -> None:
    interfere = {"times": 0}

    class Racy(Person):
        @classmethod
        def pre(cls, http_method: str, data: Item, existing_item: Optional[Item] = None) -> bool:
            if interfere["times"]:
                interfere["times"] -= 1  # another writer changes the name between read and write
                client.update_item(
                    table,
                    {"PK": "PERSON", "SK": "123456"},
                    update="SET #n = :n",
                    names={"#n": "name"},
                    values={":n": f"Eve{interfere['times']}"},
                )
            return True

    db.post(entity_class=Racy, data=JEANNE)
    interfere["times"] = 1
    result = db.patch(entity_class=Racy, data={"id_number": "123456", "age": 9})
    assert result == {**JEANNE, "name": "Eve0", "age": 9}  # the concurrent change survived

    interfere["times"] = 100  # it changes on every attempt: give up, overwrite nothing
    with pytest.raises(ConcurrentUpdate):
        db.patch(entity_class=Racy, data={"id_number": "123456", "age": 10})
    assert db.get(entity_class=Racy, data={"id_number": "123456"})["age"] == 9


def test_legacy_layout_reads_and_writes_0_1_tables(
    db: DynamoDbProxy, client: Client, table: str
) -> None:
    class OldPerson(Person):
        SORT_KEY_FORMAT = LEGACY_SORT_KEY_FORMAT

    client.put_item(table, {**JEANNE, "PK": "PERSON", "SK": "#PERSON#123456"})  # as 0.1.1 wrote
    db.post(entity_class=Person, data={**JEANNE, "id_number": "new"})  # new layout, same type
    assert db.get(entity_class=OldPerson, data={"id_number": "123456"}) == JEANNE
    assert db.get(entity_class=OldPerson) == [JEANNE]
    db.patch(entity_class=OldPerson, data={"id_number": "123456", "age": 1})
    assert client.get_item(table, {"PK": "PERSON", "SK": "#PERSON#123456"})["age"] == 1


def test_default_client_is_shared_and_uses_ddb_endpoint(
    ddb_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dynamore.dynamodb_proxy as module

    monkeypatch.setenv("DDB_ENDPOINT", ddb_endpoint)
    monkeypatch.setattr(module, "_shared", None)
    one, two = DynamoDbProxy(table_name=table), DynamoDbProxy(table_name=table)
    one.post(entity_class=Person, data=JEANNE)
    assert two.get(entity_class=Person) == [JEANNE]
    assert one.client is two.client
    one.client.close()


def test_async_default_client_is_shared_and_uses_ddb_endpoint(
    ddb_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dynamore._async_proxy as module

    monkeypatch.setenv("DDB_ENDPOINT", ddb_endpoint)
    monkeypatch.setattr(module, "_shared", None)

    async def run() -> None:
        one, two = AsyncDynamoDbProxy(table_name=table), AsyncDynamoDbProxy(table_name=table)
        await one.post(entity_class=Person, data=JEANNE)
        assert await two.get(entity_class=Person, data={"id_number": "123456"}) == JEANNE
        assert one.client is two.client and isinstance(one.client, AsyncClient)
        await one.client.aclose()

    asyncio.run(run())


def test_readme_quick_start_schema(db: DynamoDbProxy) -> None:
    with pytest.warns(Warning):

        class ReadmePerson(Entity):
            SCHEMA = {
                **PERSON_SCHEMA,
                "properties": {
                    **PERSON_SCHEMA["properties"],
                    "age": {"type": "integer", "min": 0, "max": 123},
                },
            }
            ID_ATTRIBUTE = "id_number"

    db.post(entity_class=ReadmePerson, data=JEANNE)
    assert db.get(entity_class=ReadmePerson, data={"id_number": "123456"}) == JEANNE
    assert db.get(entity_class=ReadmePerson) == [JEANNE]


def test_read_merge_write_condition_holds_for_every_value_type(db: DynamoDbProxy) -> None:
    class Doc(Entity):
        SCHEMA = {
            "title": "DOC",
            "type": "object",
            "properties": {"id": {"type": "string"}},
            "dependencies": {"a": ["b"]},
        }  # a cross-attribute rule: read-merge-write path
        ID_ATTRIBUTE = "id"

    values = {
        "m": {"x": [1, {"y": None}]},
        "l": [True, 1.5, "s"],
        "n": None,
        "b": False,
        "e": "",
        "big": 10**30,
        "f": 0.1,
    }
    db.post(entity_class=Doc, data={"id": "d", **values})
    assert db.patch(entity_class=Doc, data={"id": "d", "z": 1}) == {"id": "d", **values, "z": 1}


def test_patch_with_only_the_id_checks_existence(db: DynamoDbProxy) -> None:
    with pytest.raises(NotFound):
        db.patch(entity_class=Person, data={"id_number": "123456"})
    db.post(entity_class=Person, data=JEANNE)
    assert db.patch(entity_class=Person, data={"id_number": "123456"}) == JEANNE


def test_validation_never_fills_defaults_or_changes_the_callers_data(db: DynamoDbProxy) -> None:
    class WithDefault(Entity):
        SCHEMA = {
            "title": "DEF",
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "age": {"type": "integer", "default": 0},
                "name": {"type": "string"},
            },
        }
        ID_ATTRIBUTE = "id"

    db.post(entity_class=WithDefault, data={"id": "1", "age": 42})
    patch = {"id": "1", "name": "b"}
    assert db.patch(entity_class=WithDefault, data=patch) == {"id": "1", "age": 42, "name": "b"}
    assert patch == {"id": "1", "name": "b"}
    data = {"id": "2"}
    assert db.post(entity_class=WithDefault, data=data) == {"id": "2"}
    assert data == {"id": "2"}


def test_read_merge_write_with_more_digits_than_a_float_holds(db: DynamoDbProxy) -> None:
    from decimal import Decimal

    class Precise(Note):
        SCHEMA = {**Note.SCHEMA, "title": "PRECISE", "dependencies": {"x": ["text"]}}

    exact = Decimal("0.12345678901234567890123")
    db.post(entity_class=Precise, data={"id": "p", "value": exact})
    assert db.patch(entity_class=Precise, data={"id": "p", "text": "t"})["text"] == "t"
    # The value the patch did not touch keeps every digit (not rewritten as the float read).
    with Client(endpoint_url=db.client.endpoint.url, use_decimal=True) as exact_client:
        assert exact_client.get_item(db.table_name, {"PK": "PRECISE", "SK": "p"})["value"] == exact


def test_read_merge_write_recomputes_dynamic_attributes(
    db: DynamoDbProxy, client: Client, table: str
) -> None:
    class Indexed(Person):
        def add_dynamic_attributes(self, item: Item) -> None:
            item["GSI1"] = item["name"].upper()

    db.post(entity_class=Indexed, data=JEANNE)  # additionalProperties is False in Person
    assert db.patch(entity_class=Indexed, data={"id_number": "123456", "name": "Ann"}) == {
        **JEANNE,
        "name": "Ann",
        "GSI1": "ANN",
    }
    assert client.get_item(table, {"PK": "PERSON", "SK": "123456"})["GSI1"] == "ANN"


# -- attributes the entity does not own ----------------------------------------------------------


class Tagged(Entity):
    SCHEMA = {
        "title": "TAGGED",
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "email": {"type": "string"},
        },
        "additionalProperties": False,
    }
    ID_ATTRIBUTE = "id"


class TaggedCross(Tagged):  # a cross-attribute rule: patch reads, merges and writes
    SCHEMA = {**Tagged.SCHEMA, "title": "TAGGED", "dependencies": {"email": ["name"]}}


class TaggedHooked(Tagged):  # a pre hook: put and patch read the stored item first
    @classmethod
    def pre(cls, http_method: str, data: Item, existing_item: Optional[Item] = None) -> bool:
        return True


class TaggedDynamic(Tagged):  # dynamic attributes: patch reads, merges and writes
    def add_dynamic_attributes(self, item: Item) -> None:
        item["name_upper"] = item["name"].upper()


class TaggedPatterns(Tagged):  # put must find the stored attributes that match a pattern
    SCHEMA = {**Tagged.SCHEMA, "patternProperties": {"^x_": {"type": "string"}}}


# Set by other writers: a TTL, a secondary index key, an attribute outside the schema.
FOREIGN = {"expires_at": 1900000000, "GSI1PK": "ORG#1", "audit": {"by": "ops", "n": 2}}
TAGGED_KEY = {"PK": "TAGGED", "SK": "t"}
ENTITIES = [Tagged, TaggedCross, TaggedHooked, TaggedDynamic, TaggedPatterns]


def add_foreign(client: Client, table: str, values: Item = FOREIGN) -> None:
    sets = ", ".join(f"#f{i} = :f{i}" for i in range(len(values)))
    client.update_item(
        table,
        TAGGED_KEY,
        update=f"SET {sets}",
        names={f"#f{i}": name for i, name in enumerate(values)},
        values={f":f{i}": value for i, value in enumerate(values.values())},
    )


def dynamic(entity: type[Entity], item: Item) -> Item:
    return {**item, "name_upper": item["name"].upper()} if entity is TaggedDynamic else item


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.__name__)
def test_patch_changes_only_the_attributes_it_is_given(
    entity: type[Entity], db: DynamoDbProxy, client: Client, table: str
) -> None:
    db.post(entity_class=entity, data={"id": "t", "name": "a", "email": "e"})
    add_foreign(client, table)
    patched = db.patch(entity_class=entity, data={"id": "t", "name": "b"})
    expected = dynamic(entity, {"id": "t", "name": "b", "email": "e", **FOREIGN})
    assert patched == expected
    assert client.get_item(table, TAGGED_KEY) == {**TAGGED_KEY, **expected}


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: e.__name__)
def test_put_replaces_the_entity_and_keeps_what_it_does_not_own(
    entity: type[Entity], db: DynamoDbProxy, client: Client, table: str
) -> None:
    own = {"id": "t", "name": "a", "email": "e"}
    if entity is TaggedPatterns:
        own["x_code"] = "c"
    db.post(entity_class=entity, data=own)
    add_foreign(client, table)
    assert db.put(entity_class=entity, data={"id": "t", "name": "b"}) == {"id": "t", "name": "b"}
    # email (and x_code) were the entity's own and are not in the put: gone; the rest stays.
    expected = dynamic(entity, {"id": "t", "name": "b", **FOREIGN})
    assert client.get_item(table, TAGGED_KEY) == {**TAGGED_KEY, **expected}


@pytest.mark.parametrize("verb", ["put", "patch"])
def test_an_attribute_another_writer_adds_during_read_merge_write_survives(
    verb: str, db: DynamoDbProxy, client: Client, table: str
) -> None:
    class Racy(Tagged):
        @classmethod
        def pre(cls, http_method: str, data: Item, existing_item: Optional[Item] = None) -> bool:
            if http_method != "POST":  # between the read and the write
                add_foreign(client, table, {"expires_at": 1900000000})
            return True

    db.post(entity_class=Racy, data={"id": "t", "name": "a"})
    getattr(db, verb)(entity_class=Racy, data={"id": "t", "name": "b"})
    assert client.get_item(table, TAGGED_KEY) == {
        **TAGGED_KEY,
        "id": "t",
        "name": "b",
        "expires_at": 1900000000,
    }


# -- query and iter -----------------------------------------------------------------------------


class ShardedNote(Note):
    SCHEMA = {**Note.SCHEMA, "title": "SNOTE"}
    PARTITION_SHARDS = 4


@pytest.mark.parametrize("entity", [Note, ShardedNote], ids=["one partition", "sharded"])
def test_query_pages_cursors_and_iter(entity: type[Note], db: DynamoDbProxy) -> None:
    for i in range(23):
        db.post(entity_class=entity, data={"id": f"n{i:02d}", "value": i % 3})
    where = {"value": 1}
    expected = [{"id": f"n{i:02d}", "value": 1} for i in range(23) if i % 3 == 1]
    pages = [db.query(entity_class=entity, where=where, limit=3)]
    while pages[-1].cursor is not None:
        pages.append(db.query(entity_class=entity, where=where, limit=3, cursor=pages[-1].cursor))
    assert [len(p.items) for p in pages[:-1]] == [3] * (len(pages) - 1)
    assert [item for page in pages for item in page.items] == expected
    with pytest.raises(InvalidCursor):
        db.query(entity_class=entity, where={"value": 2}, limit=3, cursor=pages[0].cursor)
    with pytest.raises(ValidationError, match="limit"):
        db.query(entity_class=entity, limit=0)
    with pytest.raises(ValidationError, match="limit"):
        db.iter(entity_class=entity, page_size=0)  # at the call, not at the first item
    backwards = db.iter(entity_class=entity, where=where, descending=True, page_size=2)
    assert list(backwards) == expected[::-1]
    assert len(db.get(entity_class=entity)) == 23


# -- keys ---------------------------------------------------------------------------------------


def test_listing_uses_the_partition_make_identity_uses(
    db: DynamoDbProxy, client: Client, table: str
) -> None:
    class TenantPerson(Person):
        @classmethod
        def partition_value(cls) -> str:
            return "TENANT#7#PERSON"

    db.post(entity_class=TenantPerson, data=JEANNE)
    assert client.get_item(table, {"PK": "TENANT#7#PERSON", "SK": "123456"}) is not None
    assert db.get(entity_class=TenantPerson) == [JEANNE]
    assert db.get(entity_class=TenantPerson, data={"id_number": "123456"}) == JEANNE
    assert db.get(entity_class=Person) == []  # another partition


def test_an_id_of_another_type_than_the_schema_says_is_refused(
    db: DynamoDbProxy, client: Client, table: str
) -> None:
    db.post(entity_class=Person, data={**JEANNE, "id_number": "7"})
    for verb in (db.get, db.patch, db.delete, db.post, db.put):
        with pytest.raises(ValidationError, match="id_number: .*string"):
            verb(entity_class=Person, data={**JEANNE, "id_number": 7})
    assert db.get(entity_class=Person, data={"id_number": "7"}) == {**JEANNE, "id_number": "7"}


def test_key_values_over_dynamodb_limits_are_refused_before_sending(db: DynamoDbProxy) -> None:
    at_limit = "é" * 512  # 1,024 bytes in UTF-8
    db.post(entity_class=Note, data={"id": at_limit, "text": "fits"})
    assert db.get(entity_class=Note, data={"id": at_limit}) == {"id": at_limit, "text": "fits"}
    over = at_limit + "x"
    for verb in (db.post, db.put, db.get, db.patch, db.delete):
        with pytest.raises(ValidationError, match="SK: .*1025 bytes, over .* 1024"):
            verb(entity_class=Note, data={"id": over})

    class Wide(Note):
        @classmethod
        def partition_value(cls) -> str:
            return "P" * 2049

    with pytest.raises(ValidationError, match="PK: .*2049 bytes, over .* 2048"):
        db.post(entity_class=Wide, data={"id": "1"})


# -- read-merge-write under contention ----------------------------------------------------------


def test_guarded_write_delay_is_full_jitter_doubling_to_a_cap() -> None:
    assert [guarded_write_delay(n, lambda: 1.0) for n in range(1, 8)] == [
        0.02,
        0.04,
        0.08,
        0.16,
        0.32,
        0.5,
        0.5,
    ]
    assert guarded_write_delay(4, lambda: 0.25) == 0.04
    assert guarded_write_delay(2, lambda: 0.0) == 0.0
    assert guarded_write_delay(100_000, lambda: 1.0) == 0.5  # no overflow


def test_read_merge_write_backs_off_with_jitter_between_attempts(
    any_client: Any, client: Client, table: str
) -> None:
    slept: list[float] = []
    db = proxy_for(any_client, table_name=table, sleep=slept.append, jitter=lambda: 0.5)

    class Contended(Person):
        @classmethod
        def pre(cls, http_method: str, data: Item, existing_item: Optional[Item] = None) -> bool:
            if http_method != "POST":  # another writer gets in between every read and write
                client.update_item(
                    table,
                    {"PK": "PERSON", "SK": "123456"},
                    update="SET #n = :n",
                    names={"#n": "name"},
                    values={":n": f"writer {len(slept)}"},
                )
            return True

    db.post(entity_class=Contended, data=JEANNE)
    with pytest.raises(ConcurrentUpdate):
        db.patch(entity_class=Contended, data={"id_number": "123456", "age": 1})
    assert slept == [0.01, 0.02, 0.04, 0.08]  # between the 5 attempts, none after the last
    slept.clear()
    with pytest.raises(ConcurrentUpdate):
        db.put(entity_class=Contended, data=JEANNE)
    assert slept == [0.01, 0.02, 0.04, 0.08]


def test_read_merge_write_decodes_with_the_clients_own_decoder(
    any_client: Any, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The decoder is built once per client (its number policy fixed); the proxy must use
    # that one, not decode again with a flag of its own.
    class Hooked(Note):
        @classmethod
        def pre(cls, http_method: str, data: Item, existing_item: Optional[Item] = None) -> bool:
            return True

    db = proxy_for(any_client, table_name=table)
    db.post(entity_class=Hooked, data={"id": "n", "text": "a"})
    decoded: list[Item] = []
    client = getattr(any_client, "aclient", any_client)  # the AsyncClient behind a facade
    own = client._decode_item

    def spy(av_map: dict[str, Any]) -> Item:
        item = own(av_map)
        decoded.append(item)
        return item

    monkeypatch.setattr(client, "_decode_item", spy)
    assert db.patch(entity_class=Hooked, data={"id": "n", "text": "b"})["text"] == "b"
    assert decoded == [{"PK": "NOTE", "SK": "n", "id": "n", "text": "a"}]
