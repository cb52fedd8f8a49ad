"""BatchWriteItem and BatchGetItem that lose nothing: split, send, retry what is left over.

DynamoDB answers a batch with the part it did not get to (``UnprocessedItems`` /
``UnprocessedKeys``, a sign of throttling) instead of an error. Everything here resends exactly
that part, with full-jitter backoff on the client's throttling base, and when it keeps coming
back raises :class:`~dynamore.exceptions.BatchIncomplete` carrying every item or key that was
not processed. Each leftover round is recorded in the client's stats as a throttling event.

Limits: at most 25 writes and 100 keys per request. The 16 MB limits need no separate
splitting: every item is checked against the 400 KB item limit when encoded, and 25 of them
stay below 16 MB; a BatchGetItem response over 16 MB comes back partly as ``UnprocessedKeys``,
which are retried like any other leftover.

Duplicate keys in one call are a ValidationError (a ValueError) before anything is sent, since
DynamoDB would reject the whole request. Telling puts apart needs the table's key attribute
names: pass ``key_names`` or let :func:`batch_write` learn them with one DescribeTable per
table and client (cached).
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any, Optional, Union

from dynamore._protocol import Wire
from dynamore._retry import THROTTLE, classify
from dynamore.codec import decode_item, encode_item
from dynamore.exceptions import (
    BatchIncomplete,
    ConfigurationError,
    ServiceError,
    TransportError,
    ValidationError,
)

__all__ = [
    "DEFAULT_BATCH_ATTEMPTS",
    "MAX_GET_KEYS",
    "MAX_WRITE_ITEMS",
    "KeyId",
    "WriteEntry",
    "batch_get",
    "batch_write",
    "key_id",
    "send_writes",
    "table_key_names",
    "to_json",
]

#: DynamoDB's per-request limits.
MAX_WRITE_ITEMS = 25
MAX_GET_KEYS = 100

#: Rounds in a row that may come back with nothing processed before a batch gives up. A round
#: that makes some progress does not count against it: under throttling, partial progress is
#: the normal shape of a batch.
DEFAULT_BATCH_ATTEMPTS = 8

Item = dict[str, Any]
AttributeValue = dict[str, Any]
KeyId = tuple[Any, ...]
Sleep = Callable[[float], None]
GiveUp = Optional[Callable[[], bool]]

# check_circular off: wire forms come from encode_item, which builds fresh trees (never a
# cycle), and the check costs a quarter of the serializing time of a typical item.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode

_key_names_cache: weakref.WeakKeyDictionary[Wire, dict[str, tuple[str, ...]]] = (
    weakref.WeakKeyDictionary()
)
_key_names_lock = threading.Lock()


def key_id(av_map: Mapping[str, AttributeValue], names: Sequence[str]) -> Optional[KeyId]:
    """A hashable identity of the key of a wire-form item, or None if a key attribute is
    missing. Numbers compare by value (DynamoDB answers ``"1"`` for a key sent as ``"1.0"``)."""
    out: list[Any] = []
    for name in names:
        av = av_map.get(name)
        if av is None:
            return None
        if "S" in av:
            out.append(av["S"])
        elif "N" in av:
            try:
                out.append(Decimal(av["N"]))
            except InvalidOperation:
                out.append(("N", av["N"]))
        elif "B" in av:
            out.append(("B", av["B"]))
        else:  # not a key type: DynamoDB will say so; identity by its text is enough here
            out.append((next(iter(av), ""), repr(av)))
    return tuple(out)


def table_key_names(wire: Wire, table: str) -> tuple[str, ...]:
    """The key attribute names of ``table`` (hash first), from one DescribeTable per table and
    client."""
    with _key_names_lock:
        known = _key_names_cache.get(wire, {}).get(table)
    if known is not None:
        return known
    try:
        description = wire.call("DescribeTable", {"TableName": table})["Table"]
    except ServiceError as exc:
        if exc.code == "AccessDeniedException":
            raise ConfigurationError(
                f"cannot learn the key attributes of {table!r} (DescribeTable is denied): "
                "pass key_names=(...) to batch_write"
            ) from exc
        raise
    schema = description["KeySchema"]
    names = tuple(e["AttributeName"] for e in sorted(schema, key=lambda e: e["KeyType"] != "HASH"))
    with _key_names_lock:
        _key_names_cache.setdefault(wire, {})[table] = names
    return names


def to_json(value: Any, where: str = "") -> bytes:
    """Compact UTF-8 JSON of a wire-form value (a lone surrogate is a ValidationError)."""
    try:
        return _dumps(value).encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            where, "strings must be valid Unicode (a lone surrogate cannot be sent)"
        ) from None


class WriteEntry:
    """One write of a batch: its key identity, its request as JSON (``{"PutRequest": ...}``,
    serialized once, so a resend costs nothing to encode) and what the caller gave (returned
    in :class:`BatchIncomplete` when it could not be written)."""

    __slots__ = ("key", "request", "source")

    def __init__(self, key: KeyId, request: bytes, source: Any) -> None:
        self.key = key
        self.request = request
        self.source = source


def _backoff(wire: Wire, failures: int) -> float:
    # The client's own policy decides bases and cap (tests give it tiny bases); ``failures``
    # rounds in a row without progress set the exponent.
    return replace(wire.retry, attempt=max(1, failures)).backoff(THROTTLE)


def send_writes(
    wire: Wire,
    table: str,
    entries: Sequence[WriteEntry],
    *,
    key_names: Sequence[str],
    attempts: int = DEFAULT_BATCH_ATTEMPTS,
    sleep: Sleep = time.sleep,
    give_up: GiveUp = None,
) -> tuple[list[WriteEntry], Optional[BaseException]]:
    """Send at most 25 writes as one BatchWriteItem and resend whatever comes back
    unprocessed. Returns the entries still unwritten (empty when all were written) and, when
    a request failed as a whole after the client's own retries (throttling, connection), that
    error. Entries are left over when ``attempts`` rounds in a row made no progress or
    ``give_up()`` turned true. Errors that retrying cannot fix propagate.
    """
    if len(entries) > MAX_WRITE_ITEMS:
        raise ValueError(f"at most {MAX_WRITE_ITEMS} writes per BatchWriteItem")
    pending = list(entries)
    stalled = 0
    prefix = b'{"RequestItems":{' + to_json(table) + b":["
    while pending:
        try:
            body = b"".join((prefix, b",".join([e.request for e in pending]), b"]}}"))
            response = wire.send("BatchWriteItem", body)
        except (ServiceError, TransportError) as exc:
            if classify(exc) is None:
                raise
            return pending, exc
        left = response.get("UnprocessedItems", {}).get(table)
        if not left:
            return [], None
        left_ids = set()
        for request in left:
            body = request.get("PutRequest")
            av_map = body["Item"] if body is not None else request["DeleteRequest"]["Key"]
            left_ids.add(key_id(av_map, key_names))
        remaining = [e for e in pending if e.key in left_ids]
        stalled = stalled + 1 if len(remaining) >= len(pending) else 0
        pending = remaining
        wire.stats.record(THROTTLE)
        if stalled >= attempts or (give_up is not None and give_up()):
            return pending, None
        sleep(_backoff(wire, stalled))
    return [], None


def _write_entries(
    puts: Iterable[Mapping[str, Any]],
    deletes: Iterable[Mapping[str, Any]],
    key_names: Sequence[str],
) -> list[WriteEntry]:
    entries: list[WriteEntry] = []
    seen: dict[KeyId, str] = {}
    names = set(key_names)
    for what, source in (("puts", puts), ("deletes", deletes)):
        for i, value in enumerate(source):
            where = f"{what}[{i}]"
            try:
                encoded = encode_item(value)
            except ValidationError as exc:
                raise ValidationError(
                    f"{where}.{exc.path}" if exc.path else where, exc.rule
                ) from None
            ident = key_id(encoded, key_names)
            if ident is None:
                missing = [n for n in key_names if n not in encoded]
                raise ValidationError(where, f"key attribute {missing[0]!r} is missing")
            if what == "deletes":
                extra = sorted(set(encoded) - names)
                if extra:
                    raise ValidationError(where, f"{extra[0]!r} is not a key attribute")
                request = to_json({"DeleteRequest": {"Key": encoded}}, where)
                op = ("delete", value)
            else:
                request = to_json({"PutRequest": {"Item": encoded}}, where)
                op = ("put", value)
            if ident in seen:
                raise ValidationError(
                    where,
                    f"duplicate key {ident!r} (also in {seen[ident]}): DynamoDB rejects a "
                    "batch that writes one key twice",
                )
            seen[ident] = where
            entries.append(WriteEntry(ident, request, op))
    return entries


def batch_write(
    wire: Wire,
    table: str,
    puts: Iterable[Mapping[str, Any]] = (),
    deletes: Iterable[Mapping[str, Any]] = (),
    *,
    key_names: Optional[Sequence[str]] = None,
    attempts: int = DEFAULT_BATCH_ATTEMPTS,
    sleep: Sleep = time.sleep,
    give_up: GiveUp = None,
) -> None:
    """Write ``puts`` (whole items) and delete ``deletes`` (keys), 25 per request, resending
    unprocessed items with backoff.

    Every value is encoded and checked (duplicates included) before the first request. When
    ``attempts`` rounds in a row process nothing, or a request fails as a whole after the
    client's retries (throttling, connection), BatchIncomplete is raised with ``unprocessed``
    = every ``("put", item)`` / ``("delete", key)`` not written, as given, in order; its
    ``__cause__`` is the request's error, if any. Errors that retrying cannot fix (a missing
    table, an invalid request) propagate as they are.

    ``key_names`` (e.g. ``("PK", "SK")``) saves one DescribeTable per table and client;
    ``give_up()`` is asked before each backoff (a loader's deadline); ``sleep`` is the wait.

    >>> client.batch_write("MyTable", puts=[{"PK": "A", "SK": "1"}])   # doctest: +SKIP
    """
    names = tuple(key_names) if key_names is not None else table_key_names(wire, table)
    entries = _write_entries(puts, deletes, names)
    for start in range(0, len(entries), MAX_WRITE_ITEMS):
        chunk = entries[start : start + MAX_WRITE_ITEMS]
        rest = entries[start + MAX_WRITE_ITEMS :]
        left, error = send_writes(
            wire, table, chunk, key_names=names, attempts=attempts, sleep=sleep, give_up=give_up
        )
        if error is not None:
            raise BatchIncomplete(
                f"BatchWriteItem on {table!r} failed ({error})", [e.source for e in left + rest]
            ) from error
        if left:
            raise BatchIncomplete(
                f"BatchWriteItem on {table!r} kept returning unprocessed items",
                [e.source for e in left + rest],
            )


def _projection_payload(
    projection: Union[str, Sequence[str]], key_names: Sequence[str]
) -> tuple[dict[str, Any], set[str]]:
    """The projection part of a BatchGetItem request, always including the key attributes (to
    match items to keys), and the key attributes to strip again from the answers."""
    names: dict[str, str] = {}
    if isinstance(projection, str):
        wanted = {part.strip() for part in projection.split(",")}
        parts = [projection]
    else:
        wanted = set(projection)
        parts = []
        for i, attribute in enumerate(projection):
            names[f"#p{i}"] = attribute
            parts.append(f"#p{i}")
    strip = set()
    for i, key in enumerate(key_names):
        if key not in wanted:
            names[f"#k{i}"] = key
            parts.append(f"#k{i}")
            strip.add(key)
    payload: dict[str, Any] = {"ProjectionExpression": ", ".join(parts)}
    if names:
        payload["ExpressionAttributeNames"] = names
    return payload, strip


def batch_get(
    wire: Wire,
    table: str,
    keys: Iterable[Mapping[str, Any]],
    *,
    projection: Optional[Union[str, Sequence[str]]] = None,
    consistent: bool = False,
    use_decimal: bool = False,
    attempts: int = DEFAULT_BATCH_ATTEMPTS,
    sleep: Sleep = time.sleep,
) -> list[Item]:
    """The items with ``keys`` that exist, in the order of ``keys``; 100 keys per request,
    unprocessed keys resent with backoff.

    Every key must have the same attribute names (the table's key); a key given twice is a
    ValidationError before anything is sent. When ``attempts`` rounds in a row read nothing,
    or a request fails as a whole after the client's retries, BatchIncomplete is raised with
    ``unprocessed`` = every key not read, as given, in order.

    >>> client.batch_get("MyTable", [{"PK": "A", "SK": "1"}])   # doctest: +SKIP
    [{'PK': 'A', 'SK': '1'}]
    """
    key_list = list(keys)
    if not key_list:
        return []
    names: tuple[str, ...] = ()
    encoded: list[tuple[KeyId, AttributeValue]] = []
    seen: set[KeyId] = set()
    for i, key in enumerate(key_list):
        where = f"keys[{i}]"
        if not isinstance(key, Mapping) or not key:
            raise ValidationError(where, "a key is a non-empty dict of key attributes")
        if not names:
            names = tuple(sorted(key))
        elif len(key) != len(names) or any(n not in key for n in names):
            raise ValidationError(where, f"has attributes {sorted(key)}, not {list(names)}")
        try:
            av_map = encode_item(key)
        except ValidationError as exc:
            raise ValidationError(f"{where}.{exc.path}" if exc.path else where, exc.rule) from None
        ident = key_id(av_map, names)
        assert ident is not None  # every name was checked present above
        if ident in seen:
            raise ValidationError(where, f"duplicate key {ident!r}: DynamoDB rejects the batch")
        seen.add(ident)
        encoded.append((ident, av_map))

    extra: dict[str, Any] = {}
    strip: set[str] = set()
    if projection is not None:
        extra, strip = _projection_payload(projection, names)
    if consistent:
        extra["ConsistentRead"] = True

    found: dict[KeyId, Item] = {}

    def keys_left(pending: list[tuple[KeyId, AttributeValue]], later: int) -> list[Any]:
        ids = {ident for ident, _ in pending}
        return [key_list[i] for i, (ident, _) in enumerate(encoded) if ident in ids or i >= later]

    for start in range(0, len(encoded), MAX_GET_KEYS):
        pending = encoded[start : start + MAX_GET_KEYS]
        later = start + MAX_GET_KEYS
        stalled = 0
        while pending:
            request = dict(extra, Keys=[av for _, av in pending])
            try:
                response = wire.call("BatchGetItem", {"RequestItems": {table: request}})
            except (ServiceError, TransportError) as exc:
                if classify(exc) is None:
                    raise
                raise BatchIncomplete(
                    f"BatchGetItem on {table!r} failed ({exc})", keys_left(pending, later)
                ) from exc
            for av_map in response.get("Responses", {}).get(table, ()):
                item = decode_item(av_map, use_decimal=use_decimal)
                for name in strip:
                    item.pop(name, None)
                found[key_id(av_map, names) or ()] = item
            left = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys")
            if not left:
                break
            left_ids = {key_id(av, names) for av in left}
            remaining = [entry for entry in pending if entry[0] in left_ids]
            stalled = stalled + 1 if len(remaining) >= len(pending) else 0
            pending = remaining
            wire.stats.record(THROTTLE)
            if stalled >= attempts:
                raise BatchIncomplete(
                    f"BatchGetItem on {table!r} kept returning unprocessed keys",
                    keys_left(pending, later),
                )
            sleep(_backoff(wire, stalled))
    return [found[ident] for ident, _ in encoded if ident in found]
