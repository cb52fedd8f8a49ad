"""The attributes the store keeps (dynamore._managed), without a server: timestamps, the
checks of VERSION_ATTRIBUTE / TIMESTAMPS / TTL_ATTRIBUTE at class creation, the expiry test,
and the expressions each verb gets."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from dynamore._managed import (
    NOT_MANAGED,
    WRITE_TOKEN_ATTRIBUTE,
    Managed,
    is_expired,
    new_token,
    parse_managed,
    timestamp,
)
from dynamore.entity import Entity
from dynamore.exceptions import SchemaError, ValidationError

Item = dict[str, Any]


def _managed(**options: Any) -> Managed:
    settings: dict[str, Any] = {"version": None, "timestamps": None, "ttl": None, **options}
    return parse_managed(**settings, reserved=("PK", "SK", "id"), owner="Doc")


@pytest.mark.parametrize(
    ("now", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1_700_000_000.5, "2023-11-14T22:13:20.500Z"),
        (1_700_000_000.9996, "2023-11-14T22:13:20.999Z"),  # never rounds into the next second
        (951_782_400.001, "2000-02-29T00:00:00.001Z"),
    ],
)
def test_timestamp_is_iso_8601_utc_with_milliseconds(now: float, text: str) -> None:
    assert timestamp(now) == text


def test_tokens_differ() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000 and all(re.fullmatch(r"[0-9a-f]{16}", t) for t in tokens)


def test_nothing_opted_in_is_not_managed() -> None:
    assert _managed() is NOT_MANAGED
    assert not NOT_MANAGED.clock and not NOT_MANAGED.stamps
    data = {"id": "x", "version": 3}
    assert NOT_MANAGED.writable(data) is data


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({"version": ""}, "Doc.VERSION_ATTRIBUTE"),
        ({"version": 1}, "Doc.VERSION_ATTRIBUTE"),
        ({"version": "SK"}, "Doc.VERSION_ATTRIBUTE"),
        ({"version": "id"}, "Doc.VERSION_ATTRIBUTE"),
        ({"version": WRITE_TOKEN_ATTRIBUTE}, "Doc.VERSION_ATTRIBUTE"),
        ({"timestamps": "created_at"}, "Doc.TIMESTAMPS"),
        ({"timestamps": ("a", "b", "c")}, "Doc.TIMESTAMPS"),
        ({"timestamps": ("a", "a")}, "Doc.TIMESTAMPS"),
        ({"version": "v", "ttl": "v"}, "Doc.TTL_ATTRIBUTE"),
    ],
)
def test_bad_options_are_schema_errors(options: dict[str, Any], where: str) -> None:
    with pytest.raises(SchemaError) as caught:
        _managed(**options)
    assert caught.value.path == where


def test_an_entity_class_is_checked_when_created() -> None:
    with pytest.raises(SchemaError, match="TIMESTAMPS"):

        class Bad(Entity):
            SCHEMA = {"title": "BAD", "type": "object", "properties": {"id": {}}}
            ID_ATTRIBUTE = "id"
            TIMESTAMPS = ("at",)  # type: ignore[assignment]


def test_the_store_owns_version_and_timestamps_even_when_required() -> None:
    class Doc(Entity):
        SCHEMA = {
            "title": "DOC",
            "type": "object",
            "required": ["id", "version", "created_at"],
            "properties": {"id": {"type": "string"}, "version": {"type": "integer"}},
        }
        ID_ATTRIBUTE = "id"
        VERSION_ATTRIBUTE = "version"
        TIMESTAMPS = ("created_at", "updated_at")

    managed = Doc.managed()
    assert managed.owned == {"version", "created_at", "updated_at", WRITE_TOKEN_ATTRIBUTE}
    data = Doc.managed().writable({"id": "d", "version": "x", "updated_at": 5})
    assert data == {"id": "d"}
    assert Doc(data).data() == {"id": "d"}  # "required" no longer asks for them
    item = {"PK": "DOC", "SK": "d", "id": "d", "version": 2, WRITE_TOKEN_ATTRIBUTE: "t"}
    assert Doc.strip_keys(item) == {"id": "d", "version": 2}
    dropped = Doc.drop_keys(item)  # the same, on the item itself
    assert dropped is item and item == {"id": "d", "version": 2}


@pytest.mark.parametrize(
    ("value", "expired"),
    [
        (99, True),
        (100, True),
        (100.5, False),
        (Decimal("99.9"), True),
        (101, False),
        ("99", False),  # not a number: DynamoDB's TTL ignores it, so do we
        (True, False),
        (None, False),
    ],
)
def test_is_expired(value: Any, expired: bool) -> None:
    assert is_expired({"ttl": value}, "ttl", 100.0) is expired
    assert is_expired({}, "ttl", 100.0) is False


@pytest.mark.parametrize("bad", ["soon", True, None, float("nan"), float("-inf"), {"at": 1}])
def test_the_expiry_time_must_be_a_finite_number(bad: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        _managed(ttl="ttl").writable({"id": "x", "ttl": bad})
    assert caught.value.path == "ttl"
    for good in (0, 1.5, Decimal("1700000000")):
        assert _managed(ttl="ttl").writable({"ttl": good}) == {"ttl": good}


def test_if_match_is_a_version() -> None:
    managed = _managed(version="v")
    assert managed.check_if_match(None, "Doc") is None
    assert managed.check_if_match(3, "Doc") == 3
    for bad in (0, -2, True, 1.0, "3", Decimal(3)):
        with pytest.raises(ValidationError, match="if_match"):
            managed.check_if_match(bad, "Doc")
    with pytest.raises(ValidationError, match="no VERSION_ATTRIBUTE"):
        _managed(ttl="t").check_if_match(1, "Doc")


def test_the_expressions_of_a_versioned_expiring_write() -> None:
    managed = _managed(version="v", timestamps=("c", "u"), ttl="t")
    names: dict[str, str] = {"#pk": "PK"}
    values: dict[str, Any] = {}
    sets = managed.sets(names, values, 0.25, "tok")
    assert sets == ("#mv = if_not_exists(#mv, :m0) + :m1", "#mu = :mu", "#mw = :mw")
    assert values == {":m0": 0, ":m1": 1, ":mu": "1970-01-01T00:00:00.250Z", ":mw": "tok"}
    condition = managed.condition(names, values, now=5.0, if_match=None, token="tok")
    assert condition == (
        "attribute_exists(#pk) AND #mw <> :mw AND (attribute_not_exists(#mx) OR "
        "NOT attribute_type(#mx, :mxn) OR #mx > :mnow)"
    )
    names, values = {}, {}
    condition = managed.condition(names, values, now=5.0, if_match=4, token="tok")
    assert condition.startswith("attribute_exists(#pk) AND #mv = :mif AND (")
    assert values == {":mif": 4, ":mxn": "N", ":mnow": 5.0}
    assert names == {"#mv": "v", "#mx": "t"}
    names, values = {}, {}
    assert managed.create_condition(names, values, 5.0) == (
        "attribute_not_exists(#pk) OR (attribute_type(#mx, :mxn) AND #mx <= :mnow)"
    )
    item: Item = {"id": "x"}
    managed.stamp_new(item, 0.0)
    stamp = "1970-01-01T00:00:00.000Z"
    assert item == {"id": "x", "v": 1, "c": stamp, "u": stamp}
    assert managed.after_write({"v": 4, "c": "then"}, 0.0) == {"v": 5, "c": "then", "u": stamp}
    assert managed.after_write({}, 0.0) == {"v": 1, "u": stamp}
    assert managed.view({**item, "x": 1, WRITE_TOKEN_ATTRIBUTE: "t"}) == {
        "v": 1,
        "c": stamp,
        "u": stamp,
    }
