"""The operations of :class:`~dynamore.Client` and :class:`~dynamore.AsyncClient` without I/O:
each request's payload from the call's arguments, and what its answer means.

Both clients build every request here and read every answer here; they differ only in how the
bytes travel (a blocking :class:`~dynamore._protocol.Wire` or an asyncio one), so an operation
behaves the same on both by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from dynamore._frozen import Frozen
from dynamore._payloads import (
    Item,
    Names,
    Projection,
    ReturnValues,
    ReturnValuesOnFailure,
    Values,
    expression_parts,
    scan_payload,
    transact_action,
    transact_get_entry,
    write_payload,
)
from dynamore._protocol import ItemDecoder
from dynamore.codec import encode_item
from dynamore.exceptions import ServiceError, ValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Union

__all__ = [
    "Page",
    "decode_optional",
    "get_item_payload",
    "item_write_payload",
    "page_from",
    "scan_all_payloads",
    "table_is_active",
    "table_not_active",
    "transact_get_payload",
    "transact_write_payload",
]


class Page(Frozen):
    """One page of a Query or Scan: the items and the key to continue from (None at the end),
    with DynamoDB's ``Count`` and ``ScannedCount`` (items before the filter). Immutable."""

    __slots__ = ("items", "last_key", "count", "scanned_count", "wire_last_key")
    #: ``wire_last_key`` is ``LastEvaluatedKey`` exactly as DynamoDB sent it: paging resends
    #: it untouched, so a numeric key with more digits than a float holds still continues
    #: where it stopped.
    _hidden = _uncompared = frozenset({"wire_last_key"})

    items: list[Item]
    last_key: Optional[Item]
    count: int
    scanned_count: int
    wire_last_key: Optional[dict[str, Any]]

    def __init__(
        self,
        items: list[Item],
        last_key: Optional[Item],
        count: int,
        scanned_count: int,
        wire_last_key: Optional[dict[str, Any]] = None,
    ) -> None:
        init = object.__setattr__
        init(self, "items", items)
        init(self, "last_key", last_key)
        init(self, "count", count)
        init(self, "scanned_count", scanned_count)
        init(self, "wire_last_key", wire_last_key)


def decode_optional(decode: ItemDecoder, av_map: Optional[dict[str, Any]]) -> Optional[Item]:
    """``decode(av_map)``, or None for None (an absent item, no old values)."""
    if av_map is None:
        return None
    return decode(av_map)


def get_item_payload(
    table: str, key: Mapping[str, Any], consistent: bool, projection: Projection
) -> dict[str, Any]:
    """GetItem's payload."""
    payload: dict[str, Any] = {"TableName": table, "Key": encode_item(key)}
    if consistent:
        payload["ConsistentRead"] = True
    expression_parts(payload, None, None, projection)
    return payload


def item_write_payload(
    table: str,
    field_name: str,
    value: Mapping[str, Any],
    condition: Optional[str],
    names: Names,
    values: Values,
    return_values: Optional[ReturnValues],
    return_values_on_failure: Optional[ReturnValuesOnFailure],
) -> dict[str, Any]:
    """The payload of a PutItem (``field_name="Item"``), UpdateItem or DeleteItem
    (``"Key"``); an update adds its ``UpdateExpression``."""
    payload = write_payload(
        table,
        condition=condition,
        names=names,
        values=values,
        return_values=return_values,
        return_values_on_failure=return_values_on_failure,
    )
    payload[field_name] = encode_item(value)
    return payload


def page_from(
    response: dict[str, Any], decode: ItemDecoder, decode_items: Optional[ItemDecoder] = None
) -> Page:
    """The :class:`Page` a Query or Scan answered, its items decoded by ``decode_items`` when
    given (an in-place decoder, for a response no one else holds: the last key, kept as
    DynamoDB sent it, is decoded by ``decode`` into a new dict)."""
    items = [(decode_items or decode)(item) for item in response.get("Items", ())]
    last = response.get("LastEvaluatedKey")
    return Page(
        items,
        decode_optional(decode, last),
        int(response.get("Count", len(items))),
        int(response.get("ScannedCount", len(items))),
        last,
    )


def scan_all_payloads(
    table: str,
    *,
    filter: Optional[str],
    names: Names,
    values: Values,
    index: Optional[str],
    projection: Projection,
    limit: Optional[int],
    consistent: bool,
    segments: int,
) -> list[dict[str, Any]]:
    """One Scan payload per segment of a ``scan_all``."""
    if segments < 1:
        raise ValidationError("segments", "must be at least 1")
    return [
        scan_payload(
            table,
            filter=filter,
            names=names,
            values=values,
            index=index,
            projection=projection,
            limit=limit,
            consistent=consistent,
            start_key=None,
            segment=n,
            total_segments=segments if segments > 1 else None,
        )
        for n in range(segments)
    ]


def transact_write_payload(
    actions: Iterable[Mapping[str, Mapping[str, Any]]], client_token: Optional[str]
) -> dict[str, Any]:
    """TransactWriteItems' payload, always with an idempotency token."""
    payload: dict[str, Any] = {
        "TransactItems": [
            transact_action(action, f"actions[{i}]") for i, action in enumerate(actions)
        ]
    }
    import uuid  # only here: it costs cold-start time every Lambda would pay

    # An idempotency token on every transaction: if an answer is lost and the request is
    # retried, DynamoDB recognises it (for 10 minutes) instead of applying it twice.
    payload["ClientRequestToken"] = client_token or uuid.uuid4().hex
    return payload


def transact_get_payload(
    keys: Iterable[Union[tuple[str, Mapping[str, Any]], Mapping[str, Any]]],
) -> dict[str, Any]:
    """TransactGetItems' payload."""
    gets = [transact_get_entry(entry, f"keys[{i}]") for i, entry in enumerate(keys)]
    return {"TransactItems": gets}


def table_is_active(description: Mapping[str, Any]) -> bool:
    """True when a table and all its global secondary indexes are ACTIVE."""
    indexes: Sequence[Mapping[str, Any]] = description.get("GlobalSecondaryIndexes", [])
    return description.get("TableStatus") == "ACTIVE" and all(
        i.get("IndexStatus") == "ACTIVE" for i in indexes
    )


def table_not_active(name: str, timeout: float) -> ServiceError:
    """The error ``wait_for_table`` raises when its time is up."""
    return ServiceError("TableNotActive", f"table {name!r} is not ACTIVE after {timeout:.0f} s")
