"""``AsyncDynamoDbProxy``: :class:`~dynamore.dynamodb_proxy.DynamoDbProxy`'s verbs on asyncio.

Only the I/O differs: each write verb is the plan of :mod:`dynamore._verbs` that the blocking
proxy runs too, driven here with ``await`` on an :class:`~dynamore.AsyncClient`, the backoff
between read-merge-write attempts with ``asyncio.sleep``. The table check shares the process's
cache of key schemas with the blocking side (:mod:`dynamore._keyschema`); tasks that race to
check one table at cold start share one ``DescribeTable``.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Optional, TypeVar

import dynamore._verbs as _verbs
from dynamore._async_client import AsyncClient
from dynamore._cursor import CursorCodec
from dynamore._cursor import cursor_key as resolve_cursor_key
from dynamore._keyschema import Keys, check_keys, known_keys, raise_if_denied, remember_keys
from dynamore._query import (
    QueryPage,
    check_limit,
    close_page,
    compile_query,
    iter_items_async,
    open_page,
    query_page_async,
)
from dynamore._verbs import CHECK_TABLE, PAUSE, Plan
from dynamore.entity import Entity
from dynamore.exceptions import ServiceError

__all__ = ["AsyncDynamoDbProxy", "shared_async_client"]

Item = dict[str, Any]
EntityClass = type[Entity]
_T = TypeVar("_T")

_shared: Optional[AsyncClient] = None
_shared_lock = threading.Lock()

# DescribeTable requests under way, by (endpoint, table): the tasks of one event loop that
# check the same table at once wait for the same answer.
_describing: dict[tuple[str, str], asyncio.Task[Keys]] = {}


def shared_async_client() -> AsyncClient:
    """The process-wide AsyncClient used by async proxies built without one (created on first
    use; it opens connections on whichever event loop uses it)."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = AsyncClient()
    return _shared


async def table_keys(client: AsyncClient, table: str) -> Keys:
    """:func:`dynamore._keyschema.table_keys` on asyncio: one DescribeTable per table per
    process once answered, one per event loop while under way."""
    url = client.endpoint.url
    found = known_keys(url, table)
    if found is not None:
        return found
    cache_key = (url, table)
    loop = asyncio.get_running_loop()
    task = _describing.get(cache_key)
    if task is None or task.get_loop() is not loop:
        task = loop.create_task(_describe(client, cache_key))
        _describing[cache_key] = task
        task.add_done_callback(_forget)
    # Shielded: one waiting task being cancelled must not cancel the others' answer.
    return await asyncio.shield(task)


async def _describe(client: AsyncClient, cache_key: tuple[str, str]) -> Keys:
    table = cache_key[1]
    try:
        description = await client.describe_table(table)
    except ServiceError as exc:
        raise_if_denied(table, exc)
        raise
    return remember_keys(cache_key, description)


def _forget(task: asyncio.Task[Keys]) -> None:
    for cache_key, pending in list(_describing.items()):
        if pending is task:
            del _describing[cache_key]
    if not task.cancelled():
        task.exception()  # each waiter has had it raised; no "never retrieved" warning


class AsyncDynamoDbProxy:
    """:class:`~dynamore.dynamodb_proxy.DynamoDbProxy` on asyncio: the same verbs, arguments,
    results, exceptions and hooks, as coroutines.

    ``client``: an :class:`~dynamore.AsyncClient`; by default one shared per process.
    ``check_table``, ``jitter`` and ``cursor_key`` as for DynamoDbProxy; ``sleep`` (a
    coroutine function, ``asyncio.sleep`` by default) waits between read-merge-write attempts.

    >>> db = AsyncDynamoDbProxy(table_name="MyTable")                       # doctest: +SKIP
    >>> await db.post(entity_class=Person, data={"id_number": "1", ...})     # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        table_name: str,
        client: Optional[AsyncClient] = None,
        check_table: bool = True,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        cursor_key: Optional[bytes] = None,
    ) -> None:
        self.table_name = table_name
        self._client = client
        self.check_table = check_table
        self._sleep = sleep
        self._jitter = jitter
        self._checked: set[EntityClass] = set()  # entity types this proxy has checked
        self._cursors = CursorCodec(resolve_cursor_key(cursor_key))

    @property
    def client(self) -> AsyncClient:
        """The AsyncClient this proxy sends through."""
        if self._client is None:
            self._client = shared_async_client()
        return self._client

    def _must_check(self, entity_class: EntityClass) -> bool:
        """Is the table check of ``entity_class`` still to be done by this proxy?"""
        return self.check_table and entity_class not in self._checked

    async def ensure_table(self, entity_class: EntityClass) -> None:
        """Check that the table's key schema is ``entity_class.pr_keys()`` (see
        DynamoDbProxy.ensure_table); the verbs that write call it."""
        if not self.check_table or entity_class in self._checked:
            return
        check_keys(self.table_name, await table_keys(self.client, self.table_name), entity_class)
        self._checked.add(entity_class)

    async def prewarm(self, *entity_classes: EntityClass) -> None:
        """Open the client's connection, derive its signing key and run the table check for
        ``entity_classes`` (see :meth:`dynamore.AsyncClient.prewarm`), so that the first
        request pays none of it."""
        await self.client.prewarm()
        for entity_class in entity_classes:
            await self.ensure_table(entity_class)

    # -- verbs ----------------------------------------------------------------------------------

    async def get(self, *, entity_class: EntityClass, data: Optional[Item] = None) -> Optional[Any]:
        """With the id in ``data``: that item, or None (also when it has expired). Without:
        every item of the type that has not expired (a list, across all pages)."""
        if data and entity_class.ID_ATTRIBUTE in data:
            item = await self.client.get_item(self.table_name, entity_class.key_for(data))
            return _verbs.live(entity_class, item)
        every, _ = await query_page_async(
            self.client,
            self.table_name,
            compile_query(entity_class)[0],
            limit=None,
            partitions=entity_class.partitions(),
        )
        return [entity_class.drop_keys(item) for item in every]

    async def post(self, *, entity_class: EntityClass, data: Item) -> Item:
        """Create the entity; AlreadyExists if its id is taken (see DynamoDbProxy.post)."""
        return await self._run(
            _verbs.post(self.table_name, entity_class, data, check=self._must_check(entity_class))
        )

    async def put(
        self, *, entity_class: EntityClass, data: Item, if_match: Optional[int] = None
    ) -> Item:
        """Replace the entity's own attributes; NotFound if it does not exist (see
        DynamoDbProxy.put)."""
        return await self._run(
            _verbs.put(
                self.table_name,
                entity_class,
                data,
                if_match,
                check=self._must_check(entity_class),
                decode=self.client.decode_item,
                jitter=self._jitter,
            )
        )

    async def patch(
        self, *, entity_class: EntityClass, data: Item, if_match: Optional[int] = None
    ) -> Item:
        """Merge ``data`` into the stored entity; NotFound if it does not exist (see
        DynamoDbProxy.patch)."""
        return await self._run(
            _verbs.patch(
                self.table_name,
                entity_class,
                data,
                if_match,
                check=self._must_check(entity_class),
                decode=self.client.decode_item,
                jitter=self._jitter,
            )
        )

    async def delete(
        self, *, entity_class: EntityClass, data: Item, if_match: Optional[int] = None
    ) -> Item:
        """Delete the entity and return its data; NotFound if it does not exist (see
        DynamoDbProxy.delete)."""
        return await self._run(
            _verbs.delete(
                self.table_name,
                entity_class,
                data,
                if_match,
                check=self._must_check(entity_class),
                decode=self.client.decode_item,
                jitter=self._jitter,
            )
        )

    async def query(
        self,
        *,
        entity_class: EntityClass,
        where: Optional[Mapping[str, Any]] = None,
        index: Optional[str] = None,
        limit: int = 25,
        cursor: Optional[str] = None,
        descending: bool = False,
    ) -> QueryPage:
        """One page of the items of ``entity_class`` that satisfy ``where``, and the cursor of
        the next (see DynamoDbProxy.query). Everything is checked before any request."""
        compiled, binding, start = open_page(
            self._cursors, entity_class, where, index, limit, cursor, descending
        )
        raw, position = await query_page_async(
            self.client,
            self.table_name,
            compiled,
            limit=limit,
            start=start,
            forward=not descending,
            partitions=entity_class.partitions(),
        )
        return close_page(self._cursors, entity_class, binding, raw, position)

    def iter(
        self,
        *,
        entity_class: EntityClass,
        where: Optional[Mapping[str, Any]] = None,
        index: Optional[str] = None,
        descending: bool = False,
        page_size: int = 100,
    ) -> AsyncIterator[Item]:
        """Every item :meth:`query` would return, as an async iterator reading a page of
        ``page_size`` items only when the previous one has been consumed. The arguments are
        checked at the call, before any request.

        >>> async for person in db.iter(entity_class=Person):              # doctest: +SKIP
        ...     print(person["id_number"])
        """
        compiled, _ = compile_query(entity_class, where, index, descending)
        check_limit(page_size)
        items = iter_items_async(
            self.client,
            self.table_name,
            compiled,
            page_size=page_size,
            forward=not descending,
            partitions=entity_class.partitions(),
        )
        return _stripped(entity_class, items)

    async def _run(self, plan: Plan[_T]) -> _T:
        """Carry out a verb's plan (:mod:`dynamore._verbs`): await each call it asks for and
        hand back the result, or throw in the error. A cancelled task leaves the plan where it
        was (closed with the generator)."""
        client = self.client
        try:
            step = next(plan)
            while True:
                op, args, kwargs = step
                try:
                    result: Any = None
                    if op == CHECK_TABLE:
                        await self.ensure_table(*args)
                    elif op == PAUSE:
                        await self._sleep(*args)
                    else:
                        result = await getattr(client, op)(*args, **kwargs)
                except Exception as exc:
                    error: Optional[Exception] = exc
                else:
                    error = None
                # Outside the handler, so that an error the plan raises in turn is not
                # chained to the one it was given.
                step = plan.send(result) if error is None else plan.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def _stripped(entity_class: EntityClass, items: AsyncIterator[Item]) -> AsyncIterator[Item]:
    drop = entity_class.drop_keys  # the client's fresh decode, held by no one else
    async for item in items:
        yield drop(item)
