"""DynamoDB Streams records as typed entity changes, for Lambda functions a stream triggers.

>>> for change in changes(event, [Person, Doc]):                 # doctest: +SKIP
...     if change.entity_class is Person and change.event_name == "INSERT":
...         welcome(change.new)

Each record of the event becomes one :class:`Change`, in the event's order: the event name
(``INSERT``, ``MODIFY``, ``REMOVE``), the entity class whose item it is (found by the item's
partition key value, as :meth:`Entity.partition_value` gives it, and its sort key format), the
id, and the new and old entity data (key attributes stripped), decoded by dynamore's own codec.
Images the stream does not carry (``KEYS_ONLY``, ``NEW_IMAGE`` ...) are None. A record of an
item of no given type is not dropped: its ``entity_class`` and ``id`` are None and
``new``/``old`` hold the whole decoded item, keys included, so the caller sees what it did not
expect (``keys`` holds every record's key attributes).
``expired`` is True for a deletion made by DynamoDB's TTL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, Optional

from dynamore._schema import id_types
from dynamore.codec import decode_item
from dynamore.entity import Entity
from dynamore.exceptions import ValidationError

__all__ = ["Change", "changes"]

EntityClass = type[Entity]
Item = dict[str, Any]
# Who deletes an expired item (a TTL deletion's userIdentity.principalId).
_TTL_PRINCIPAL = "dynamodb.amazonaws.com"


class Change(NamedTuple):
    """One stream record, decoded: ``keys`` are the item's key attributes (always there).
    ``entity_class`` and ``id`` are None for an item of no given type, whose ``new`` and
    ``old`` are then whole items."""

    event_name: str
    entity_class: Optional[EntityClass]
    id: Any
    new: Optional[Item]
    old: Optional[Item]
    keys: Item
    expired: bool = False
    sequence_number: Optional[str] = None


class _Type(NamedTuple):
    entity_class: EntityClass
    sort_prefix: str
    sort_suffix: str


def _types(entities: Iterable[EntityClass]) -> dict[tuple[str, Any], list[_Type]]:
    """(partition key name, partition value) -> the entity types stored under it."""
    out: dict[tuple[str, Any], list[_Type]] = {}
    for entity_class in entities:
        if not (isinstance(entity_class, type) and issubclass(entity_class, Entity)):
            raise ValidationError("entities", f"{entity_class!r} is not an Entity subclass")
        pk = entity_class.pr_keys()[0]
        prefix, _, suffix = entity_class.SORT_KEY_FORMAT.replace(
            "{title}", entity_class._title
        ).partition("{id}")
        for value in entity_class.partitions():
            out.setdefault((pk, value), []).append(_Type(entity_class, prefix, suffix))
    return out


def _id_from_sort_key(kind: _Type, sort_value: Any) -> Any:
    """The id a sort key value holds (for a record whose images lack it): the format's
    prefix and suffix removed, read as an integer when the schema's id is one."""
    if not isinstance(sort_value, str):
        return sort_value
    text = sort_value[len(kind.sort_prefix) : len(sort_value) - len(kind.sort_suffix)]
    allowed = id_types(kind.entity_class.SCHEMA, kind.entity_class.ID_ATTRIBUTE)
    if allowed is not None and str not in allowed[0] and int in allowed[0]:
        try:
            return int(text)
        except ValueError:
            return text
    return text


def _match(candidates: list[_Type], keys: Item) -> Optional[_Type]:
    for kind in candidates:
        sort_value = keys.get(kind.entity_class.pr_keys()[1])
        if not isinstance(sort_value, str) or (
            sort_value.startswith(kind.sort_prefix) and sort_value.endswith(kind.sort_suffix)
        ):
            return kind
    return None


def _image(record: Mapping[str, Any], name: str, use_decimal: bool) -> Optional[Item]:
    raw = record.get(name)
    return None if raw is None else decode_item(raw, use_decimal=use_decimal)


def _kind_of(types: dict[tuple[str, Any], list[_Type]], keys: Item) -> Optional[_Type]:
    for (pk, value), candidates in types.items():
        if keys.get(pk) == value:
            kind = _match(candidates, keys)
            if kind is not None:
                return kind
    return None


def _change(
    record: Mapping[str, Any], kind: Optional[_Type], keys: Item, use_decimal: bool
) -> Change:
    stream = record["dynamodb"]
    new = _image(stream, "NewImage", use_decimal)
    old = _image(stream, "OldImage", use_decimal)
    identity = record.get("userIdentity") or {}
    expired = identity.get("type") == "Service" and identity.get("principalId") == _TTL_PRINCIPAL
    name = record.get("eventName", "")
    sequence = stream.get("SequenceNumber")
    if kind is None:
        return Change(name, None, None, new, old, keys, expired, sequence)
    entity_class = kind.entity_class
    image = new if new is not None else old
    if image is not None and entity_class.ID_ATTRIBUTE in image:
        identifier = image[entity_class.ID_ATTRIBUTE]
    else:
        identifier = _id_from_sort_key(kind, keys.get(entity_class.pr_keys()[1]))
    strip = entity_class.strip_keys
    return Change(
        name,
        entity_class,
        identifier,
        None if new is None else strip(new),
        None if old is None else strip(old),
        keys,
        expired,
        sequence,
    )


def changes(
    event: Mapping[str, Any], entities: Iterable[EntityClass], *, use_decimal: bool = False
) -> list[Change]:
    """The changes a DynamoDB Streams Lambda event (``{"Records": [...]}``) holds, one per
    record, in order (see the module docstring). ``use_decimal``: numbers as Decimal, as
    the client's option of the same name. ValidationError for an event that is not one."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        raise ValidationError("event", "a DynamoDB Streams event has a list of Records")
    types = _types(entities)
    out = []
    for position, record in enumerate(records):
        stream = record.get("dynamodb") if isinstance(record, Mapping) else None
        if not isinstance(stream, Mapping) or not isinstance(stream.get("Keys"), Mapping):
            raise ValidationError(f"Records[{position}]", "is not a DynamoDB Streams record")
        keys = decode_item(dict(stream["Keys"]))
        out.append(_change(record, _kind_of(types, keys), keys, use_decimal))
    return out
