"""Entity: schema checks at class creation, compiled validation, identity and storage layout.
Pure units: no server."""

from __future__ import annotations

import subprocess
import sys
import uuid
import warnings
from typing import Any

import pytest

from dynamore.entity import LEGACY_SORT_KEY_FORMAT, MAX_SORT_KEY_BYTES, Entity
from dynamore.exceptions import SchemaError, SchemaWarning, ValidationError
from tests.kit import JEANNE, PERSON_SCHEMA, Person


def test_valid_data_and_accessors() -> None:
    person = Person(JEANNE)
    assert person.data() == JEANNE and person.data() is not JEANNE
    assert person.identity() == {"PK": "PERSON", "SK": "123456"}
    assert person.data_with_identity() == {**JEANNE, "PK": "PERSON", "SK": "123456"}


@pytest.mark.parametrize(
    ("change", "path", "rule"),
    [
        ({"age": 124}, "age", "maximum"),
        ({"age": "old"}, "age", "type"),
        ({"gender": "other"}, "gender", "enum"),
        ({"extra": 1}, "", "additionalProperties"),
    ],
)
def test_invalid_data_names_attribute_and_rule(
    change: dict[str, Any], path: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as info:
        Person({**JEANNE, **change})
    assert isinstance(info.value, ValueError)
    assert info.value.path == path
    assert rule in info.value.rule


def test_missing_required_attribute() -> None:
    data = dict(JEANNE)
    del data["name"]
    with pytest.raises(ValidationError, match="name"):
        Person(data)


def test_key_attributes_in_data_are_rejected_by_the_verbs() -> None:
    with pytest.raises(ValidationError, match="PK: is a key attribute"):
        Person.check_keys_absent({**JEANNE, "PK": "HACK"})
    with pytest.raises(ValidationError, match="SK: is a key attribute"):
        Person.key_for({"id_number": "1", "SK": "HACK"})


def test_readme_min_max_warns_naming_the_keyword() -> None:
    schema = {
        **PERSON_SCHEMA,
        "properties": {
            **PERSON_SCHEMA["properties"],
            "age": {"type": "integer", "min": 0, "max": 123},
        },
    }
    with pytest.warns(SchemaWarning) as record:

        class Readme(Entity):
            SCHEMA = schema
            ID_ATTRIBUTE = "id_number"

    messages = [str(w.message) for w in record]
    assert any("'min'" in m and "'minimum'" in m and "properties.age" in m for m in messages)
    assert any("'max'" in m and "'maximum'" in m for m in messages)
    # The ignored keywords do not validate anything, exactly as JSON Schema says.
    assert Readme({**JEANNE, "age": 500}).data()["age"] == 500


def test_close_misspelling_gets_a_suggestion() -> None:
    with pytest.warns(SchemaWarning, match="'maxLenght'.*'maxLength'"):

        class Typo(Entity):
            SCHEMA = {
                "title": "T",
                "type": "object",
                "properties": {"id": {"type": "string", "maxLenght": 3}},
            }
            ID_ATTRIBUTE = "id"


def test_clean_schema_draws_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class Clean(Entity):
            SCHEMA = PERSON_SCHEMA
            ID_ATTRIBUTE = "id_number"


@pytest.mark.parametrize(
    "schema",
    [
        {"title": "X", "type": "object", "required": "id"},
        {"title": "X", "type": "object", "properties": {"id": {"type": "nonsense"}}},
        {"title": "X", "type": "object", "properties": {"id": {"type": "string", "pattern": "("}}},
        {"type": "object"},
        {"title": "", "type": "object"},
        ["not", "a", "dict"],
    ],
)
def test_invalid_schema_fails_at_class_creation(schema: Any) -> None:
    with pytest.raises(SchemaError):

        class Bad(Entity):
            SCHEMA = schema
            ID_ATTRIBUTE = "id"


def test_uuid4_type_of_dynamore_0_1_is_accepted() -> None:
    class Thing(Entity):
        SCHEMA = {
            "title": "THING",
            "type": "object",
            "required": ["uid"],
            "properties": {"uid": {"type": "uuid4"}, "parent": {"type": ["uuid4", "null"]}},
        }
        ID_ATTRIBUTE = "uid"

    uid = str(uuid.uuid4())
    assert Thing({"uid": uid, "parent": None}).identity() == {"PK": "THING", "SK": uid}
    with pytest.raises(ValidationError, match="uid"):
        Thing({"uid": "not-a-uuid"})
    with pytest.raises(ValidationError, match="parent"):
        Thing({"uid": uid, "parent": "nope"})


def test_legacy_sort_key_layout_switch() -> None:
    class OldPerson(Person):
        SORT_KEY_FORMAT = LEGACY_SORT_KEY_FORMAT

    assert OldPerson(JEANNE).identity() == {"PK": "PERSON", "SK": "#PERSON#123456"}


def test_custom_keys_and_dynamic_attributes() -> None:
    class Custom(Person):
        @classmethod
        def pr_keys(cls) -> list[str]:
            return ["pk", "sk"]

        def add_dynamic_attributes(self, item: dict[str, Any]) -> None:
            item["name_upper"] = item["name"].upper()

    item = Custom(JEANNE).data_with_identity()
    assert item["pk"] == "PERSON" and item["sk"] == "123456" and item["name_upper"] == "JEANNE"
    assert Custom.strip_keys(item) == {**JEANNE, "name_upper": "JEANNE"}
    assert Custom.drop_keys(dict(item)) == Custom.strip_keys(item)  # custom key names too
    assert Custom.hook_overridden("add_dynamic_attributes")
    assert not Custom.hook_overridden("pre")
    # Its own key names are the reserved ones, and only those.
    with pytest.raises(ValidationError, match="sk"):
        Custom.check_keys_absent({**JEANNE, "sk": "x"})
    Custom.check_keys_absent({**JEANNE, "SK": "x"})
    with pytest.raises(ValidationError, match="SK"):
        Person.check_keys_absent({**JEANNE, "SK": "x"})


def test_make_identity_needs_a_usable_id() -> None:
    with pytest.raises(ValidationError, match="id_number"):
        Person.make_identity({"name": "x"})
    with pytest.raises(ValidationError, match="non-empty"):
        Person.make_identity({"id_number": ""})
    assert Person.make_identity({"id_number": 7}) == {"PK": "PERSON", "SK": "7"}

    class Label(str):
        pass

    # A str subclass is an id like a str, its sort key a plain str.
    key = Person.make_identity({"id_number": Label("12")})
    assert key == {"PK": "PERSON", "SK": "12"} and type(key["SK"]) is str
    with pytest.raises(ValidationError, match="non-empty"):
        Person.make_identity({"id_number": Label("")})


def test_validator_is_compiled_once_per_class() -> None:
    assert Person.__dict__["_validators"] is Person._validators
    assert Person._validators.patch is not None  # no cross-attribute rules

    class Cross(Entity):
        SCHEMA = {
            "title": "C",
            "type": "object",
            "properties": {"id": {"type": "string"}},
            "dependentRequired": {"a": ["b"]},
        }
        ID_ATTRIBUTE = "id"

    assert Cross._validators.patch is None


@pytest.mark.parametrize(
    ("properties", "place", "value"),
    [
        ({"id": {"type": "nonsense"}}, "properties.id.type", "'nonsense'"),
        (
            {"meta": {"type": "object", "properties": {"when": {"type": ["string", "datetime"]}}}},
            "properties.meta.properties.when.type",
            "'datetime'",
        ),
        ({"tags": {"type": "array", "items": {"type": 5}}}, "properties.tags.items.type", "5"),
    ],
)
def test_an_unknown_type_names_its_place_and_value(
    properties: dict[str, Any], place: str, value: str
) -> None:
    with pytest.raises(SchemaError) as info:

        class Bad(Entity):
            SCHEMA = {"title": "X", "type": "object", "properties": properties}
            ID_ATTRIBUTE = "id"

    assert info.value.path.endswith(f"Bad.SCHEMA.{place}")
    assert info.value.rule.startswith(f"{value} is not a JSON Schema type")


def test_an_id_attribute_the_schema_forbids_fails_at_class_creation() -> None:
    with pytest.raises(SchemaError, match="ID_ATTRIBUTE: 'uid' is not in SCHEMA's properties"):

        class Forgot(Entity):
            SCHEMA = {**PERSON_SCHEMA, "title": "FORGOT"}  # ID_ATTRIBUTE left at "uid"

    class ByPattern(Entity):
        SCHEMA = {
            "title": "P",
            "type": "object",
            "patternProperties": {"^id_": {"type": "string"}},
            "additionalProperties": False,
        }
        ID_ATTRIBUTE = "id_p"

    class Hooks(Entity):  # keeps Entity's own SCHEMA: a base for stored types, not one itself
        @classmethod
        def pre(cls, http_method: str, data: Any, existing_item: Any = None) -> bool:
            return True

    class Stored(Hooks):
        SCHEMA = PERSON_SCHEMA
        ID_ATTRIBUTE = "id_number"

    assert ByPattern({"id_p": "1"}).identity() == {"PK": "P", "SK": "1"}
    assert Stored(JEANNE).identity() == {"PK": "PERSON", "SK": "123456"}


def test_key_for_checks_the_ids_type_and_dynamodbs_key_limits() -> None:
    assert Person.key_for({"id_number": "7"}) == {"PK": "PERSON", "SK": "7"}
    with pytest.raises(ValidationError, match="id_number: must be string"):
        Person.key_for({"id_number": 7})  # not the item "7"
    with pytest.raises(ValidationError, match="id_number: the id attribute is required"):
        Person.key_for({"name": "x"})
    at_limit = "\U0001d11e" * (MAX_SORT_KEY_BYTES // 4)  # 4 bytes each in UTF-8
    assert Person.key_for({"id_number": at_limit})["SK"] == at_limit
    with pytest.raises(ValidationError, match="SK: the sort key .* 1028 bytes"):
        Person.key_for({"id_number": at_limit + "\U0001d11e"})

    class Counted(Entity):  # an integer id, and a cross-attribute rule (an id-only validator)
        SCHEMA = {
            "title": "N",
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "anyOf": [{"required": ["n"]}],
        }
        ID_ATTRIBUTE = "n"

    assert Counted.key_for({"n": 7}) == {"PK": "N", "SK": "7"}
    with pytest.raises(ValidationError, match="n: must be integer"):
        Counted.key_for({"n": "7"})


def test_make_identity_uses_partition_value() -> None:
    class Moved(Person):
        @classmethod
        def partition_value(cls) -> str:
            return "ORG#1#PERSON"

    assert Moved(JEANNE).identity() == {"PK": "ORG#1#PERSON", "SK": "123456"}
    assert Moved.make_identity({"id_number": "1"})["PK"] == "ORG#1#PERSON"


def test_importing_the_entity_modules_compiles_nothing() -> None:
    # Validators are compiled per class when it is created; Entity itself on first use.
    code = (
        "import sys, dynamore.dynamodb_proxy\n"
        "assert 'fastjsonschema' not in sys.modules\n"
        "from dynamore.entity import Entity\n"
        "assert Entity({}).data() == {} and 'fastjsonschema' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
