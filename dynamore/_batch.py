"""BatchWriteItem and BatchGetItem that lose nothing: split, send, retry what is left over.

DynamoDB answers a batch with the part it did not get to (``UnprocessedItems`` /
``UnprocessedKeys``, a sign of throttling) instead of an error. Everything here resends exactly
that part (all of what was sent when a leftover matches none of it: nothing unprocessed may
pass for done), with full-jitter backoff on the client's throttling base, and when it keeps
coming back raises :class:`~dynamore.exceptions.BatchIncomplete` carrying every item or key
that was not processed. Each leftover round is recorded in the client's stats as a throttling
event.

A request that fails as a whole with a retryable error (throttling, a connection failure)
after the client's own attempts is one more round without progress: backed off and sent again
like a leftover, until the rounds run out.

Limits: at most 25 writes and 100 keys per request. The 16 MB limits need no separate
splitting: every item is checked against the 400 KB item limit when encoded, and 25 of them
stay below 16 MB; a BatchGetItem response over 16 MB comes back partly as ``UnprocessedKeys``,
which are retried like any other leftover.

Concurrent senders (the bulk loader's workers) pace themselves with one :class:`AdaptiveRate`.

Duplicate keys in one call are a ValidationError (a ValueError) before anything is sent, since
DynamoDB would reject the whole request. Telling puts apart needs the table's key attribute
names: pass ``key_names`` or let :func:`batch_write` learn them with one DescribeTable per
table and client (cached).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Optional, Protocol, TypeVar, Union

from dynamore._classify import THROTTLE, classify
from dynamore._config import DEFAULT_BATCH_ATTEMPTS
from dynamore._protocol import Stats, Wire, utf8
from dynamore._retry import RetryPolicy
from dynamore.codec import encode_item, encode_item_json, encode_value
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
    "AdaptiveRate",
    "KeyId",
    "Sender",
    "WriteEntry",
    "batch_get",
    "batch_write",
    "key_id",
    "retry_rounds",
    "send_writes",
    "table_key_names",
]

#: DynamoDB's per-request limits.
MAX_WRITE_ITEMS = 25
MAX_GET_KEYS = 100

Item = dict[str, Any]
AttributeValue = dict[str, Any]
KeyId = tuple[Any, ...]
Sleep = Callable[[float], object]  # time.sleep, or an Event's wait (which ends early when set)
GiveUp = Optional[Callable[[], bool]]
_T = TypeVar("_T")

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


def item_key_id(item: Mapping[str, Any], names: Sequence[str]) -> Optional[KeyId]:
    """:func:`key_id` of a Python item (already checked by the encoder), or None if a key
    attribute is missing. String keys, the usual kind, are their own identity; only other
    values are encoded for it."""
    out: list[Any] = []
    for name in names:
        value = item.get(name, _MISSING)
        if type(value) is str:
            out.append(value)
        elif value is _MISSING:
            return None
        else:
            return key_id({n: encode_value(item[n]) for n in names if n in item}, names)
    return tuple(out)


_MISSING = object()


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


def _encode(wire: Sender, value: dict[str, Any], where: str) -> bytes:
    # The client's own encoder (compact UTF-8 JSON), with the entry named in its error.
    try:
        return wire.encode(value)
    except ValidationError as exc:
        raise ValidationError(where, exc.rule) from None


def _utf8(text: str, where: str) -> bytes:
    try:
        return utf8(text)
    except ValidationError as exc:
        raise ValidationError(where, exc.rule) from None


class Sender(Protocol):
    """What sending pre-encoded batches needs: the client's wire, or a bulk loader worker's
    sender over :meth:`dynamore.Client.send_encoded` (its own sleep and retry counts)."""

    stats: Stats
    retry: RetryPolicy

    def send(self, operation: str, body: bytes) -> dict[str, Any]: ...

    def encode(self, payload: dict[str, Any]) -> bytes: ...


class WriteEntry:
    """One write of a batch: its key identity, its request as JSON (``{"PutRequest": ...}``,
    serialized once, so a resend costs nothing to encode) and what the caller gave (returned
    in :class:`BatchIncomplete` when it could not be written)."""

    __slots__ = ("key", "request", "source")

    def __init__(self, key: KeyId, request: bytes, source: Any) -> None:
        self.key = key
        self.request = request
        self.source = source


def _backoff(wire: Sender, failures: int, kind: str) -> float:
    # The client's own policy decides bases and cap (tests give it tiny bases); ``failures``
    # rounds in a row without progress set the exponent.
    return wire.retry.replace(attempt=max(1, failures)).backoff(kind)


def retry_rounds(
    wire: Sender,
    pending: list[_T],
    send: Callable[[list[_T]], list[_T]],
    *,
    attempts: int,
    sleep: Sleep,
    give_up: GiveUp,
    throttled: Optional[Callable[[], None]] = None,
) -> tuple[list[_T], Optional[BaseException]]:
    """Call ``send(pending)`` (which returns the part DynamoDB left over) until nothing is
    left. A round that leaves everything, whether all of it came back unprocessed or the
    request failed with a retryable error after the client's own attempts, counts toward
    ``attempts`` rounds in a row; a round with some progress starts the count again. Each
    round with something left is a retry in the client's stats (a throttling event for
    leftovers) and, when it was throttling, is reported to ``throttled``. Returns what is
    left and the last round's error when the rounds ran out or ``give_up()`` turned true."""
    stalled = 0
    while True:
        error: Optional[BaseException] = None
        kind = THROTTLE  # leftovers are DynamoDB's sign of throttling
        try:
            left = send(pending)
        except (ServiceError, TransportError) as exc:
            retryable = classify(exc)
            if retryable is None:
                raise
            left, error, kind = pending, exc, retryable
        if not left:
            return [], None
        stalled = stalled + 1 if len(left) >= len(pending) else 0
        pending = left
        wire.stats.record(kind)
        if throttled is not None and kind == THROTTLE:
            throttled()
        if stalled >= attempts or (give_up is not None and give_up()):
            return pending, error
        sleep(_backoff(wire, stalled, kind))


def _unprocessed(unprocessed: Mapping[str, Any]) -> list[Any]:
    # Every leftover request or key, whatever table name (or ARN) DynamoDB filed it under.
    return [entry for entries in unprocessed.values() for entry in entries]


def send_writes(
    wire: Sender,
    table: str,
    entries: Sequence[WriteEntry],
    *,
    key_names: Sequence[str],
    attempts: int = DEFAULT_BATCH_ATTEMPTS,
    sleep: Sleep = time.sleep,
    give_up: GiveUp = None,
    throttled: Optional[Callable[[], None]] = None,
) -> tuple[list[WriteEntry], Optional[BaseException]]:
    """Send at most 25 writes as one BatchWriteItem and resend whatever comes back
    unprocessed, or the whole request when it failed with a retryable error. Returns the
    entries still unwritten (empty when all were written) and, when the last round failed as
    a whole, its error. Entries are left over when ``attempts`` rounds in a row made no
    progress or ``give_up()`` turned true. Errors that retrying cannot fix propagate.

    ``sleep`` waits between rounds (pass an Event's ``wait`` to be woken early);
    ``throttled()`` is called on every throttled round.
    """
    if len(entries) > MAX_WRITE_ITEMS:
        raise ValueError(f"at most {MAX_WRITE_ITEMS} writes per BatchWriteItem")
    # '{"RequestItems":{"<table>":[' from the client's encoder: the entries go in between.
    prefix = _encode(wire, {"RequestItems": {table: []}}, "table")[:-3]

    def send(pending: list[WriteEntry]) -> list[WriteEntry]:
        body = b"".join((prefix, b",".join([e.request for e in pending]), b"]}}"))
        left = _unprocessed(wire.send("BatchWriteItem", body).get("UnprocessedItems") or {})
        if not left:
            return []
        left_ids = set()
        for request in left:
            put = request.get("PutRequest")
            av_map = put["Item"] if put is not None else request["DeleteRequest"]["Key"]
            left_ids.add(key_id(av_map, key_names))
        remaining = [e for e in pending if e.key in left_ids]
        # A leftover that matches no entry must not let an entry pass for written: when
        # they do not pair up one to one, everything is sent again (writes are idempotent).
        return remaining if len(remaining) == len(left) else pending

    return retry_rounds(
        wire,
        list(entries),
        send,
        attempts=attempts,
        sleep=sleep,
        give_up=give_up,
        throttled=throttled,
    )


def _write_entries(
    wire: Wire,
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
                if what == "deletes":
                    encoded = encode_item(value)
                else:
                    # A put goes straight to its JSON in one walk (no AttributeValue dicts);
                    # only the key attributes are encoded on their own, for the key's identity.
                    item_json = encode_item_json(value)
            except ValidationError as exc:
                raise ValidationError(
                    f"{where}.{exc.path}" if exc.path else where, exc.rule
                ) from None
            ident = (
                key_id(encoded, key_names) if what == "deletes" else item_key_id(value, key_names)
            )
            if ident is None:
                present = encoded if what == "deletes" else value
                missing = [n for n in key_names if n not in present]
                raise ValidationError(where, f"key attribute {missing[0]!r} is missing")
            if what == "deletes":
                extra = sorted(set(encoded) - names)
                if extra:
                    raise ValidationError(where, f"{extra[0]!r} is not a key attribute")
                request = _encode(wire, {"DeleteRequest": {"Key": encoded}}, where)
                op = ("delete", value)
            else:
                request = _utf8(f'{{"PutRequest":{{"Item":{item_json}}}}}', where)
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
    ``attempts`` rounds in a row process nothing (everything unprocessed, or the request
    failed as a whole after the client's retries: throttling, connection), BatchIncomplete is
    raised with ``unprocessed`` = every ``("put", item)`` / ``("delete", key)`` not written,
    as given, in order; its ``__cause__`` is the last request's error, if any. Errors that
    retrying cannot fix (a missing table, an invalid request) propagate as they are.

    ``key_names`` (e.g. ``("PK", "SK")``) saves one DescribeTable per table and client;
    ``give_up()`` is asked before each backoff (a loader's deadline); ``sleep`` is the wait.

    >>> client.batch_write("MyTable", puts=[{"PK": "A", "SK": "1"}])   # doctest: +SKIP
    """
    names = tuple(key_names) if key_names is not None else table_key_names(wire, table)
    entries = _write_entries(wire, puts, deletes, names)
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


class AdaptiveRate:
    """A rate limit shared by the workers: additive increase, multiplicative decrease.

    Unlimited until the first throttling event. Then the rate (items per second) becomes half
    the throughput measured over the last ``window`` seconds, grows by a tenth of the cut rate
    after each request that met no throttling, is halved again on the next throttling event (at
    most once per ``cooldown``, so one burst of throttled workers counts once), and is lifted
    altogether once it is back to twice the throughput that was first throttled. It never goes
    below ``floor``. The clock and sleep are injectable (the loader's sleep ends early when it
    stops).
    """

    def __init__(
        self,
        *,
        floor: float = float(MAX_WRITE_ITEMS),
        window: float = 2.0,
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.rate: Optional[float] = None
        self.floor = floor
        self._window = window
        self._cooldown = cooldown
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # (time, items) sent within the window, and their sum: bounded by the window.
        self._sent: deque[tuple[float, int]] = deque()
        self._sent_total = 0
        self._next = 0.0
        self._step = 0.0
        self._ceiling = 0.0
        self._last_cut = float("-inf")

    def _trim(self, now: float) -> None:
        sent = self._sent
        oldest = now - self._window
        while sent and sent[0][0] < oldest:
            self._sent_total -= sent.popleft()[1]

    def _throughput(self, now: float) -> float:
        self._trim(now)
        if not self._sent:
            return 0.0
        # Over the time actually covered: right after the start, the window is not full yet.
        span = max(now - self._sent[0][0], self._window / 20)
        return self._sent_total / span

    def acquire(self, n: int) -> None:
        """Wait until ``n`` more items may be sent."""
        with self._lock:
            now = self._clock()
            self._sent.append((now, n))
            self._sent_total += n
            self._trim(now)
            if self.rate is None:
                return
            start = max(now, self._next)
            self._next = start + n / self.rate
            wait = start - now
        if wait > 0:
            self._sleep(wait)

    def throttled(self) -> None:
        """DynamoDB throttled a request: halve the rate."""
        with self._lock:
            now = self._clock()
            if now - self._last_cut < self._cooldown:
                return
            self._last_cut = now
            if self.rate is None:
                current = self._throughput(now)
                self._ceiling = 2 * max(current, self.floor)
            else:
                current = self.rate
            self.rate = max(self.floor, current / 2)
            self._step = max(1.0, self.rate / 10)
            self._next = max(self._next, now)

    def succeeded(self) -> None:
        """A request met no throttling: raise the rate a step."""
        with self._lock:
            if self.rate is None:
                return
            self.rate += self._step
            if self.rate >= self._ceiling:
                self.rate = None


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
    attempts: int = DEFAULT_BATCH_ATTEMPTS,
    sleep: Sleep = time.sleep,
) -> list[Item]:
    """The items with ``keys`` that exist, in the order of ``keys``; 100 keys per request,
    unprocessed keys resent with backoff.

    Every key must have the same attribute names (the table's key); a key given twice is a
    ValidationError before anything is sent. When ``attempts`` rounds in a row read nothing
    (every key unprocessed, or the request failed as a whole after the client's retries),
    BatchIncomplete is raised with ``unprocessed`` = every key not read, as given, in order.

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
    decode = wire.decode_item

    def send(pending: list[tuple[KeyId, AttributeValue]]) -> list[tuple[KeyId, AttributeValue]]:
        request = dict(extra, Keys=[av for _, av in pending])
        response = wire.call("BatchGetItem", {"RequestItems": {table: request}})
        for av_map in response.get("Responses", {}).get(table, ()):
            item = decode(av_map)
            for name in strip:
                item.pop(name, None)
            found[key_id(av_map, names) or ()] = item
        unprocessed = response.get("UnprocessedKeys") or {}
        left = [k for entry in unprocessed.values() for k in entry.get("Keys", ())]
        if not left:
            return []
        left_ids = {key_id(av, names) for av in left}
        remaining = [entry for entry in pending if entry[0] in left_ids]
        # A leftover key that matches none asked for: read them all again (see send_writes).
        return remaining if len(remaining) == len(left) else pending

    for start in range(0, len(encoded), MAX_GET_KEYS):
        chunk = encoded[start : start + MAX_GET_KEYS]
        left, error = retry_rounds(wire, chunk, send, attempts=attempts, sleep=sleep, give_up=None)
        if left:
            ids = {ident for ident, _ in left}
            later = start + MAX_GET_KEYS
            unread = [
                key_list[i] for i, (ident, _) in enumerate(encoded) if ident in ids or i >= later
            ]
            what = f"failed ({error})" if error is not None else "kept returning unprocessed keys"
            raise BatchIncomplete(f"BatchGetItem on {table!r} {what}", unread) from error
    return [found[ident] for ident, _ in encoded if ident in found]
