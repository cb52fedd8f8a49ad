"""Entity: schema checks at class creation, compiled validation, identity and storage layout.
Pure units: no server."""

from __future__ import annotations

import uuid
import warnings
from typing import Any

import pytest

from dynamore.entity import LEGACY_SORT_KEY_FORMAT, Entity
from dynamore.exceptions import SchemaError, SchemaWarning, ValidationError

PERSON_SCHEMA: dict[str, Any] = {
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


class Person(Entity):
    SCHEMA = PERSON_SCHEMA
    ID_ATTRIBUTE = "id_number"


JEANNE = {"name": "Jeanne", "age": 123, "gender": "female", "id_number": "123456"}


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


def test_key_attributes_in_data_are_rejected() -> None:
    with pytest.raises(ValidationError, match="PK: is a key attribute"):
        Person({**JEANNE, "PK": "HACK"})


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
    assert Custom.hook_overridden("add_dynamic_attributes")
    assert not Custom.hook_overridden("pre")


def test_make_identity_needs_a_usable_id() -> None:
    with pytest.raises(ValidationError, match="id_number"):
        Person.make_identity({"name": "x"})
    with pytest.raises(ValidationError, match="non-empty"):
        Person.make_identity({"id_number": ""})
    assert Person.make_identity({"id_number": 7}) == {"PK": "PERSON", "SK": "7"}


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
