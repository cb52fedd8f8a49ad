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

A type sharded over N partitions (:mod:`dynamore._shards`) is read as N streams merged in sort
key order: each asks for its share of what is missing (a quarter more), all at once; a
stream that runs dry while the page is not full asks again before the merge goes on.
The reading is written once, sans-I/O (:class:`Reader`), and run by a sync and an async
driver.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from dynamore._cursor import CursorCodec
from dynamore._where import CompiledQuery, TableKeys, compile_where, fingerprint
from dynamore.codec import decode_item, encode_item
from dynamore.exceptions import ValidationError

if TYPE_CHECKING:
    from dynamore._async_client import AsyncClient
    from dynamore._client import Client
    from dynamore._operations import Page
    from dynamore.entity import Entity

__all__ = [
    "MAX_LIMIT",
    "MAX_REQUEST_LIMIT",
    "QueryPage",
    "Reader",
    "check_limit",
    "close_page",
    "compile_query",
    "decode_position",
    "drive",
    "drive_async",
    "iter_items",
    "iter_items_async",
    "open_page",
    "query_page",
    "query_page_async",
]

#: The largest page a query returns.
MAX_LIMIT = 1000
#: The largest ``Limit`` one Query request asks for.
MAX_REQUEST_LIMIT = 1000

#: The most requests a sync read of a sharded type sends at once (one thread each).
MAX_THREADS = 16

Item = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class QueryPage:
    """One page of :meth:`dynamore.dynamodb_proxy.DynamoDbProxy.query`: ``items``, the entity
    data (no key attributes), at most ``limit`` of them; ``cursor``, the opaque text that
    fetches the next page, or None when there is no more."""

    items: list[Item]
    cursor: Optional[str]


def compile_query(
    entity_class: type[Entity],
    where: Optional[Mapping[str, Any]] = None,
    index: Optional[str] = None,
    descending: bool = False,
) -> tuple[CompiledQuery, tuple[str, ...]]:
    """The Query for the items of ``entity_class`` that satisfy ``where`` (on ``index``, or
    the table), expired items filtered out as of now, and the binding its cursors are signed
    for (type, index, ``where``, direction, and the shard count of a sharded type). Without
    arguments: the listing of every item of the type."""
    if not isinstance(descending, bool):
        raise ValidationError("descending", f"must be True or False, not {descending!r}")
    if index is not None and not isinstance(index, str):
        raise ValidationError("index", f"must be an index name or None, not {index!r}")
    if where is None and entity_class._managed.ttl is None:
        # A listing without conditions is the same Query every time (no clock in it).
        return _unconditional(entity_class, index, descending)  # type: ignore[arg-type]
    return _compile(entity_class, where, index, descending)


@functools.lru_cache(maxsize=256)
def _unconditional(
    entity_class: type[Entity], index: Optional[str], descending: bool
) -> tuple[CompiledQuery, tuple[str, ...]]:
    return _compile(entity_class, None, index, descending)


def _compile(
    entity_class: type[Entity],
    where: Optional[Mapping[str, Any]],
    index: Optional[str],
    descending: bool,
) -> tuple[CompiledQuery, tuple[str, ...]]:
    pk, sk = entity_class.pr_keys()
    title = entity_class._title
    compiled = compile_where(
        where,
        properties=entity_class.SCHEMA.get("properties", {}),
        id_attribute=entity_class.ID_ATTRIBUTE,
        table=TableKeys(
            entity_class.partition_value(),
            pk,
            sk,
            entity_class.SORT_KEY_FORMAT.replace("{title}", title),
        ),
        index=index,
        indexes=entity_class.index_specs(),
    )
    binding: tuple[str, ...] = (
        title,
        index or "",
        fingerprint(where),
        "desc" if descending else "asc",
    )
    if entity_class._shards is not None:
        binding += (f"shards={entity_class._shards}",)
    managed = entity_class._managed
    if managed.ttl is not None:
        # Expired items are skipped by the filter, as of this call: the cursor binding
        # leaves the time out, so the next page's call filters as of its own.
        names, values = dict(compiled.names), dict(compiled.values)
        live = managed.live_filter(names, values, time.time())
        compiled = replace(
            compiled,
            filter=f"({compiled.filter}) AND {live}" if compiled.filter else live,
            names=names,
            values=values,
        )
    return compiled, binding


def open_page(
    codec: CursorCodec,
    entity_class: type[Entity],
    where: Optional[Mapping[str, Any]],
    index: Optional[str],
    limit: Any,
    cursor: Optional[str],
    descending: bool,
) -> tuple[CompiledQuery, tuple[str, ...], Optional[Item]]:
    """Everything a proxy's ``query`` checks before any request: the Query, its cursor
    binding, and the start key the cursor holds (None without one)."""
    compiled, binding = compile_query(entity_class, where, index, descending)
    check_limit(limit)
    start = None if cursor is None else decode_position(codec, cursor, binding, compiled)
    return compiled, binding, start


def close_page(
    codec: CursorCodec,
    entity_class: type[Entity],
    binding: tuple[str, ...],
    raw: list[Item],
    position: Optional[dict[str, Any]],
) -> QueryPage:
    """The page a proxy's ``query`` returns: the items read, their keys dropped (they are
    the client's fresh decode, held by no one else), and the signed cursor of ``position``."""
    drop = entity_class.drop_keys
    cursor = None if position is None else codec.encode(position, binding)
    return QueryPage([drop(item) for item in raw], cursor)


def check_limit(limit: Any) -> int:
    """``limit`` if it is an int from 1 to :data:`MAX_LIMIT`; else ValidationError."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError("limit", f"must be an integer from 1 to {MAX_LIMIT}, not {limit!r}")
    return limit


def _request_limit(missing: Optional[int], read: int, matched: int) -> Optional[int]:
    """The Limit of the next request: ``missing`` scaled by items read per match so far (all
    that is allowed when nothing has matched yet after reading), within bounds; None (no
    Limit, DynamoDB's 1 MB pages) when everything is wanted."""
    if missing is None:
        return None
    if matched:
        wanted = math.ceil(missing * read / matched)
    else:
        wanted = MAX_REQUEST_LIMIT if read else missing
    return max(missing, min(MAX_REQUEST_LIMIT, wanted))


class _Stream:
    """The reading state of one partition: the items read and not yet returned, and where
    the next request starts (None at the beginning)."""

    __slots__ = ("buffer", "ended", "matched", "next", "read", "start", "values")

    def __init__(self, values: dict[str, Any], start: Optional[Item]) -> None:
        self.values = values  # the query's values, with this partition's key value
        self.start = start
        self.buffer: list[Item] = []
        self.next = 0  # index in buffer of the next item to return
        self.ended = False
        self.read = 0
        self.matched = 0

    def fill(self, page: Page) -> None:
        self.buffer, self.next = page.items, 0
        self.start = page.last_key
        self.ended = page.last_key is None
        self.read += page.scanned_count
        self.matched += len(page.items)


class Reader:
    """Reads a compiled query over one partition, or over every shard of a sharded type
    merged in sort key order, as a sans-I/O state machine: :meth:`take` is a generator that
    yields lists of :meth:`dynamore.Client.query` keyword arguments (requests to send
    concurrently) and is sent the pages they returned, in order. :func:`drive` and
    :func:`drive_async` run it on a client. The state persists between takes, so items read
    beyond one take are returned by the next.

    A shard is a function of the sort key, so every item of a sharded type up to the last
    one returned came from some shard's front: the one position ``start`` (the sort key of
    the last item returned) is every shard's position, and a cursor needs nothing more."""

    def __init__(
        self,
        table: str,
        query: CompiledQuery,
        *,
        forward: bool,
        start: Optional[Mapping[str, Any]] = None,
        partitions: Optional[tuple[str, ...]] = None,
    ) -> None:
        self._table = table
        self._query = query
        self._forward = forward
        placeholder = query.partition
        if partitions is None or placeholder is None or query.index is not None:
            self._streams = [_Stream(query.values, None if start is None else dict(start))]
            self._sort = ""  # one stream: no merge
        else:
            pk, sk = query.key_attributes[:2]
            self._sort = sk
            self._streams = [
                _Stream(
                    {**query.values, placeholder: value},
                    None if start is None else {pk: value, sk: start[sk]},
                )
                for value in partitions
            ]
        self._last: Optional[Item] = None

    @property
    def ended(self) -> bool:
        """True when every item has been returned."""
        return all(s.ended and s.next == len(s.buffer) for s in self._streams)

    def position(self) -> Optional[dict[str, Any]]:
        """The wire-form key of the last item returned, where the next read resumes; None
        when the data ended with it (or nothing was returned)."""
        if self._last is None or self.ended:
            return None
        return encode_item({name: self._last[name] for name in self._query.key_attributes})

    def _request(self, stream: _Stream, share: Optional[int]) -> dict[str, Any]:
        query = self._query
        return {
            "table": self._table,
            "key_condition": query.key_condition,
            "names": query.names,
            "values": stream.values or None,
            "index": query.index,
            "filter": query.filter,
            "limit": _request_limit(share, stream.read, stream.matched),
            "forward": self._forward,
            "start_key": stream.start,
        }

    def take(self, limit: Optional[int]) -> Generator[list[dict[str, Any]], list[Page], list[Item]]:
        """Up to ``limit`` items (None: all) in order, fewer only when the data ends."""
        out: list[Item] = []
        streams = self._streams
        while limit is None or len(out) < limit:
            missing = None if limit is None else limit - len(out)
            hungry = [s for s in streams if s.next == len(s.buffer) and not s.ended]
            if hungry:
                share = missing
                if missing is not None and len(streams) > 1:
                    # An even share of what is missing and a quarter more: one round of
                    # requests usually suffices, and little is read beyond the page.
                    unfinished = sum(not s.ended for s in streams)
                    share = math.ceil(missing * 1.25 / unfinished) + 1
                pages = yield [self._request(s, share) for s in hungry]
                for stream, page in zip(hungry, pages):
                    stream.fill(page)
                continue
            live = [s for s in streams if s.next < len(s.buffer)]
            if not live:
                break
            if len(live) == 1:
                best, count = live[0], len(live[0].buffer) - live[0].next
            else:
                best, count = self._run(live)
            if missing is not None:
                count = min(count, missing)
            out.extend(best.buffer[best.next : best.next + count])
            best.next += count
        if out:
            self._last = out[-1]
        return out

    def _run(self, live: list[_Stream]) -> tuple[_Stream, int]:
        """The stream whose front item comes first, and how many of its items come before
        every other stream's front."""
        sk = self._sort
        fronts = sorted(
            ((s.buffer[s.next][sk], n) for n, s in enumerate(live)), reverse=not self._forward
        )
        best = live[fronts[0][1]]
        bound = fronts[1][0]
        buffer, first, end = best.buffer, best.next, len(best.buffer)
        count = 1
        if self._forward:
            while first + count < end and buffer[first + count][sk] < bound:
                count += 1
        else:
            while first + count < end and buffer[first + count][sk] > bound:
                count += 1
        return best, count


class Fanout:
    """The worker threads that send a sharded read's concurrent requests: started at the first
    round that has several (an unsharded read never starts any), kept for every later round
    and page of the same read, and stopped at its end (``with``), so that a listing of many
    pages does not start and stop threads for each."""

    __slots__ = ("_pool",)

    def __init__(self) -> None:
        self._pool: Any = None

    def query(self, client: Client, batch: list[dict[str, Any]]) -> list[Page]:
        """The pages of ``batch``'s requests, in its order, sent at once."""
        if len(batch) == 1:
            return [client.query(**batch[0])]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor  # only sharded reads need it

            self._pool = ThreadPoolExecutor(min(len(batch), MAX_THREADS))
        return list(self._pool.map(lambda request: client.query(**request), batch))

    def __enter__(self) -> Fanout:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def drive(
    client: Client, steps: Generator[list[dict[str, Any]], list[Page], T], fanout: Fanout
) -> T:
    """Run a :class:`Reader` step generator on a sync client: a list of several requests is
    sent from ``fanout``'s worker threads at once."""
    try:
        batch = next(steps)
        while True:
            batch = steps.send(fanout.query(client, batch))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def drive_async(
    client: AsyncClient, steps: Generator[list[dict[str, Any]], list[Page], T]
) -> T:
    """Run a :class:`Reader` step generator on an AsyncClient: several requests at once are
    awaited together."""
    try:
        batch = next(steps)
        while True:
            if len(batch) == 1:
                pages = [await client.query(**batch[0])]
            else:
                import asyncio  # not on the sync cold path

                pages = list(await asyncio.gather(*(client.query(**r) for r in batch)))
            batch = steps.send(pages)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def query_page(
    client: Client,
    table: str,
    query: CompiledQuery,
    *,
    limit: Optional[int],
    start: Optional[Mapping[str, Any]] = None,
    forward: bool = True,
    partitions: Optional[tuple[str, ...]] = None,
) -> tuple[list[Item], Optional[dict[str, Any]]]:
    """Up to ``limit`` raw items (with their keys; None: every one, in DynamoDB's 1 MB pages)
    matching ``query``, from after the key ``start`` (plain values, or None for the
    beginning), and the position (the wire-form key of the last item returned) to continue
    from, or None when the data ended. With ``partitions`` (a sharded type's, see
    :class:`Reader`), all of them, merged."""
    reader = Reader(table, query, forward=forward, start=start, partitions=partitions)
    with Fanout() as fanout:
        items = drive(client, reader.take(limit), fanout)
    return items, reader.position()


async def query_page_async(
    client: AsyncClient,
    table: str,
    query: CompiledQuery,
    *,
    limit: Optional[int],
    start: Optional[Mapping[str, Any]] = None,
    forward: bool = True,
    partitions: Optional[tuple[str, ...]] = None,
) -> tuple[list[Item], Optional[dict[str, Any]]]:
    """:func:`query_page` on an AsyncClient."""
    reader = Reader(table, query, forward=forward, start=start, partitions=partitions)
    items = await drive_async(client, reader.take(limit))
    return items, reader.position()


def iter_items(
    client: Client,
    table: str,
    query: CompiledQuery,
    *,
    page_size: int,
    forward: bool,
    partitions: Optional[tuple[str, ...]] = None,
) -> Iterator[Item]:
    """Every raw item matching ``query``, read a page of ``page_size`` at a time, each only
    when the previous one has been consumed."""
    reader = Reader(table, query, forward=forward, partitions=partitions)
    with Fanout() as fanout:
        while not reader.ended:
            yield from drive(client, reader.take(page_size), fanout)


async def iter_items_async(
    client: AsyncClient,
    table: str,
    query: CompiledQuery,
    *,
    page_size: int,
    forward: bool,
    partitions: Optional[tuple[str, ...]] = None,
) -> AsyncIterator[Item]:
    """:func:`iter_items` on an AsyncClient (an async iterator)."""
    reader = Reader(table, query, forward=forward, partitions=partitions)
    while not reader.ended:
        for item in await drive_async(client, reader.take(page_size)):
            yield item


def decode_position(
    codec: CursorCodec, cursor: str, binding: tuple[str, ...], query: CompiledQuery
) -> Item:
    """The start key (plain values) a cursor holds; InvalidCursor unless it is this query's."""
    position = codec.decode(cursor, binding, names=query.key_attributes)
    return decode_item(position)
