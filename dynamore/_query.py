"""Entity queries: pages that fill, and cursors that resume right after the last item returned.

DynamoDB applies ``Limit`` before the filter, so one Query request may return fewer matches
than asked for (even none) while more follow. :func:`query_page` keeps reading until it holds
``limit`` matches or the data ends. Its cursor is the key of the last item it *returned* (the
table's key attributes, plus the index's), not of the last item DynamoDB read: DynamoDB resumes
strictly after that key, so no item is skipped or repeated across pages, however many items a
request read beyond it.

Each request asks for about what is still missing: the missing count, scaled by the ratio of
items read to matches seen so far (a filter that keeps one item in ten asks for ten times
more), between the missing count and :data:`MAX_REQUEST_LIMIT`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from dynamore._cursor import CursorCodec
from dynamore._where import CompiledQuery
from dynamore.codec import decode_item, encode_item
from dynamore.exceptions import ValidationError

if TYPE_CHECKING:
    from dynamore._client import Client

__all__ = [
    "MAX_LIMIT",
    "MAX_REQUEST_LIMIT",
    "QueryPage",
    "check_limit",
    "decode_position",
    "query_page",
]

#: The largest page a query returns.
MAX_LIMIT = 1000
#: The largest ``Limit`` one Query request asks for.
MAX_REQUEST_LIMIT = 1000

Item = dict[str, Any]


@dataclass(frozen=True)
class QueryPage:
    """One page of :meth:`dynamore.dynamodb_proxy.DynamoDbProxy.query`: ``items``, the entity
    data (no key attributes), at most ``limit`` of them; ``cursor``, the opaque text that
    fetches the next page, or None when there is no more."""

    items: list[Item]
    cursor: Optional[str]


def check_limit(limit: Any) -> int:
    """``limit`` if it is an int from 1 to :data:`MAX_LIMIT`; else ValidationError."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError("limit", f"must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
    return limit


def _request_limit(missing: int, read: int, matched: int) -> int:
    """The Limit of the next request: ``missing`` scaled by items read per match so far (all
    that is allowed when nothing has matched yet after reading), within bounds."""
    if matched:
        wanted = math.ceil(missing * read / matched)
    else:
        wanted = MAX_REQUEST_LIMIT if read else missing
    return max(missing, min(MAX_REQUEST_LIMIT, wanted))


def query_page(
    client: Client,
    table: str,
    query: CompiledQuery,
    *,
    limit: int,
    start: Optional[Mapping[str, Any]],
    forward: bool,
) -> tuple[list[Item], Optional[dict[str, Any]]]:
    """Up to ``limit`` raw items (with their keys) matching ``query``, from after the key
    ``start`` (plain values, or None for the beginning), and the position (the wire-form key
    of the last item returned) to continue from, or None when the data ended."""
    items: list[Item] = []
    read = 0
    while True:
        missing = limit - len(items)
        page = client.query(
            table,
            query.key_condition,
            names=query.names,
            values=query.values or None,
            index=query.index,
            filter=query.filter,
            limit=_request_limit(missing, read, len(items)),
            forward=forward,
            start_key=start,
        )
        read += page.scanned_count
        if len(page.items) >= missing:
            items.extend(page.items[:missing])
            if len(page.items) == missing and page.last_key is None:
                return items, None  # the data ended with this very item
            return items, _position(items[-1], query.key_attributes)
        items.extend(page.items)
        if page.last_key is None:
            return items, None
        start = page.last_key


def _position(item: Item, key_attributes: tuple[str, ...]) -> dict[str, Any]:
    return encode_item({name: item[name] for name in key_attributes})


def decode_position(
    codec: CursorCodec, cursor: str, binding: tuple[str, ...], query: CompiledQuery
) -> Item:
    """The start key (plain values) a cursor holds; InvalidCursor unless it is this query's."""
    position = codec.decode(cursor, binding, names=query.key_attributes)
    return decode_item(position)
