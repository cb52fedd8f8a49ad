"""``AsyncClient``: the :class:`~dynamore.Client` operations on asyncio.

Only the I/O differs from the blocking client: payloads and answers come from
:mod:`dynamore._operations`, the checks of an answer and the meaning of a failed attempt from
:class:`~dynamore._protocol.WireCore` and :class:`~dynamore._protocol.Attempts`, the bytes travel
through :class:`~dynamore._transports.aio.AioTransport`. Credentials from the environment or
given explicitly cost nothing more; botocore's provider chain (files, SSO, instance metadata)
runs in a worker thread, and concurrent tasks share one refresh. Batches run the blocking
batch logic of :mod:`dynamore._batch` in a worker thread, each of its requests sent through
the event loop's connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Callable, Optional, TypeVar, Union, cast

from dynamore._client import ClientBase, _retry_policy
from dynamore._config import (
    DEFAULT_BATCH_ATTEMPTS,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_IDLE_TIME,
    DEFAULT_READ_TIMEOUT,
)
from dynamore._credentials import CredentialProvider, Credentials, resolve_credentials
from dynamore._observe import RequestHook, with_consumed_capacity
from dynamore._operations import (
    Page,
    get_item_payload,
    item_write_payload,
    page_from,
    scan_all_payloads,
    table_is_active,
    table_not_active,
    transact_get_payload,
    transact_write_payload,
)
from dynamore._payloads import (
    Item,
    Names,
    Projection,
    ReturnValues,
    ReturnValuesOnFailure,
    Values,
    create_table_payload,
    query_payload,
    scan_payload,
    write_payload,
)
from dynamore._protocol import Attempts, ItemDecoder, Stats, Wire, WireCore
from dynamore._retry import RetryPolicy
from dynamore._signing import Signer
from dynamore._transports import AsyncTransport, make_async_transport
from dynamore.exceptions import ServiceError, TransportError

__all__ = ["AsyncClient", "AsyncCredentials", "AsyncWire"]

_T = TypeVar("_T")


def _environment_has_keys() -> bool:
    return bool(os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_SECRET_ACCESS_KEY"))


def _refresh_due(provider: CredentialProvider) -> bool:
    """Would ``provider.get()`` refresh (and so maybe block on a source or a lock)?"""
    try:
        # The provider's state tuple (credentials, refresh_at, valid_until): read, not changed.
        refresh_at = provider._state[1]
        clock = provider._clock
    except (AttributeError, IndexError, TypeError):  # another layout: ask the slow way
        return provider.refreshable
    return bool(clock() >= refresh_at)


class AsyncCredentials:
    """A :class:`~dynamore._credentials.CredentialProvider` for the event loop: what may block
    (botocore's chain, a refresh from its source) runs in a worker thread, once for all the
    tasks that need it at the same time.

    With ``credentials`` given or set in the environment, they are resolved at once, as the
    blocking client does; otherwise botocore's chain is consulted at the first request.
    """

    def __init__(self, explicit: object = None) -> None:
        self._explicit = explicit
        self._provider: Optional[CredentialProvider] = None
        if explicit is not None or _environment_has_keys():
            self._provider = resolve_credentials(explicit)
        self._pending: Optional[asyncio.Future[Credentials]] = None

    def __repr__(self) -> str:
        return f"<AsyncCredentials {self._provider!r}>"

    @property
    def refreshable(self) -> bool:
        """False for fixed credentials: asking again cannot give different ones."""
        return self._provider is None or self._provider.refreshable

    def current(self) -> Optional[Credentials]:
        """The credentials to sign with, when they are at hand without waiting; else None
        (then :meth:`fetch`)."""
        provider = self._provider
        if provider is None or _refresh_due(provider):
            return None
        return provider.get()

    async def fetch(self) -> Credentials:
        """The credentials to sign with, resolved or refreshed in a worker thread; tasks that
        ask while a fetch is under way wait for the same one."""
        loop = asyncio.get_running_loop()
        pending = self._pending
        if pending is None or pending.done() or pending.get_loop() is not loop:
            pending = self._pending = asyncio.ensure_future(asyncio.to_thread(self._fetch))
        # Shielded: one waiting task being cancelled must not cancel the others' fetch.
        return await asyncio.shield(pending)

    def _fetch(self) -> Credentials:  # in a worker thread
        if self._provider is None:
            self._provider = resolve_credentials(self._explicit)
        return self._provider.get()

    async def invalidate(self, stale: Credentials) -> None:
        """DynamoDB said the token expired: the next :meth:`current` asks the source again
        (the provider's lock may be held by a refreshing thread, so not on the loop)."""
        if self._provider is not None:
            await asyncio.to_thread(self._provider.invalidate, stale)


class AsyncWire(WireCore):
    """:class:`~dynamore._protocol.Wire` on asyncio: the same attempts, checks and retries;
    ``await wire.call(operation, payload)``."""

    transport: AsyncTransport
    credentials: AsyncCredentials  # type: ignore[assignment]

    async def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send ``operation`` with ``payload`` (wire-form JSON); return the response JSON."""
        return await self.send(operation, self.encode(payload))

    async def send(self, operation: str, body: bytes) -> dict[str, Any]:
        """Send an already-encoded body, retrying as the policy allows."""
        if self.on_request is not None:
            return await self._send_recorded(operation, body)
        attempts: Optional[Attempts] = None
        while True:
            credentials = self.credentials.current()
            if credentials is None:
                credentials = await self.credentials.fetch()
            headers = self.signer.headers(operation, body, credentials, self._clock())
            resent = False
            try:
                response = await self.transport.send(headers, body)
                resent = response.resent
                return self.parse(response)
            except (ServiceError, TransportError) as error:
                if attempts is None:
                    attempts = Attempts(self, operation)
                delay = attempts.failed(error, resent)
                if delay is None:
                    await self.credentials.invalidate(credentials)
                elif delay > 0:
                    await self._sleep(delay)

    async def _send_recorded(self, operation: str, body: bytes) -> dict[str, Any]:
        from dynamore._observe import AsyncRecorder

        hook = self.on_request
        assert hook is not None
        recorder = AsyncRecorder(operation, self.transport)
        try:
            result: dict[str, Any] = await self._recording_twin(recorder).send(operation, body)
        except BaseException as exc:
            hook(recorder.record(None, exc))
            raise
        hook(recorder.record(result, None))
        return result

    def close(self) -> None:
        """Close the transport's connections."""
        self.transport.close()


class _BatchBridge:
    """What :mod:`dynamore._batch` needs of a wire, for its blocking logic running in a worker
    thread: each request is sent by the event loop (``loop``, per thread) and waited for.

    One per client, so that the batch module's per-wire cache of key names serves it."""

    def __init__(self, wire: AsyncWire) -> None:
        self._wire = wire
        self._local = threading.local()
        self.retry: RetryPolicy = wire.retry
        self.stats: Stats = wire.stats
        self.decode_item: ItemDecoder = wire.decode_item
        self.encode = wire.encode

    def bind(self, loop: asyncio.AbstractEventLoop, cancelled: threading.Event) -> None:
        """In the worker thread, before the batch: the loop to send through, and the event
        that says the awaiting task was cancelled."""
        self._local.loop = loop
        self._local.cancelled = cancelled

    def send(self, operation: str, body: bytes) -> dict[str, Any]:
        if self._local.cancelled.is_set():
            raise asyncio.CancelledError()  # stop the batch between requests
        future = asyncio.run_coroutine_threadsafe(
            self._wire.send(operation, body), self._local.loop
        )
        return future.result()

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.send(operation, self.encode(payload))


class AsyncClient(ClientBase):
    """The :class:`~dynamore.Client` on asyncio: every operation is a coroutine with the same
    arguments, results and exceptions; ``query_all`` and ``scan_all`` are async iterators.

    >>> async with AsyncClient(endpoint_url="http://127.0.0.1:8000") as db:   # doctest: +SKIP
    ...     await db.put_item("MyTable", {"PK": "PERSON", "SK": "1", "name": "Jeanne"})
    ...     await db.get_item("MyTable", {"PK": "PERSON", "SK": "1"})
    {'PK': 'PERSON', 'SK': '1', 'name': 'Jeanne'}

    The options are the Client's. ``transport`` is ``"auto"`` or ``"native"`` (the asyncio
    keep-alive pool; proxies from the environment are not used) or an object with an async
    ``send(headers, body)`` and a ``close()``. A client and its connections belong to one event
    loop at a time (used from another loop, it starts new connections); build it once per
    loop and close it (``async with``, or :meth:`aclose`). A task cancelled in the middle of a
    request never leaves a half-read connection in the pool.
    """

    _wire: AsyncWire

    def __init__(
        self,
        *,
        region: Optional[str] = None,
        endpoint_url: Optional[str] = None,
        credentials: object = None,
        transport: Union[str, AsyncTransport] = "auto",
        retry: Union[int, RetryPolicy, None] = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_idle_time: float = DEFAULT_MAX_IDLE_TIME,
        use_decimal: bool = False,
        max_attempts: Optional[int] = None,
        on_request: Optional[RequestHook] = None,
    ) -> None:
        self._setup(
            region=region,
            endpoint_url=endpoint_url,
            credentials=credentials,
            transport=transport,
            policy=_retry_policy(retry, max_attempts),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            max_idle_time=max_idle_time,
            use_decimal=use_decimal,
            on_request=on_request,
        )
        self._bridge: Optional[_BatchBridge] = None

    def _make_transport(
        self,
        kind: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int,
        max_idle_time: float,
    ) -> AsyncTransport:
        return make_async_transport(
            self.endpoint.url,
            kind=kind,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            max_idle_time=max_idle_time,
        )

    def _make_wire(
        self,
        *,
        transport: Any,
        signer: Signer,
        credentials: object,
        retry: RetryPolicy,
        decode_item: ItemDecoder,
    ) -> AsyncWire:
        return AsyncWire(
            transport=transport,
            signer=signer,
            credentials=AsyncCredentials(credentials),  # type: ignore[arg-type]
            retry=retry,
            sleep=asyncio.sleep,
            decode_item=decode_item,
        )

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def transport(self) -> AsyncTransport:
        """The transport in use (its repr shows the connection pool)."""
        return self._wire.transport

    async def send_encoded(
        self, operation: str, body: bytes, *, stats: Optional[Stats] = None
    ) -> dict[str, Any]:
        """Send ``operation`` with a body already encoded as wire-form JSON; the response
        JSON (see :meth:`dynamore.Client.send_encoded`; ``stats`` counts this call's
        retries instead of :attr:`stats`)."""
        wire = self._wire
        if stats is not None:
            import copy

            wire = copy.copy(wire)
            wire.stats = stats
        return await wire.send(operation, body)

    async def call(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Any DynamoDB operation by name, with a raw wire-form payload; the raw response."""
        return await self._wire.call(operation, dict(payload))

    async def prewarm(self) -> None:
        """Pay now what the first request would (as :meth:`dynamore.Client.prewarm`):
        credentials (looked up in a worker thread), the signing key, an open connection. The
        connection belongs to the running event loop: prewarm in the loop that will send (an
        application's startup), not under an ``asyncio.run`` of its own."""
        wire = self._wire
        credentials = wire.credentials.current() or await wire.credentials.fetch()
        # Signing any request derives the signing key of the day and caches it in the signer.
        wire.signer.headers("GetItem", b"{}", credentials, time.time())
        warm = getattr(wire.transport, "prewarm", None)
        if warm is not None:
            await warm()

    def close(self) -> None:
        """Close every connection (busy ones as their requests end)."""
        self._wire.close()

    async def aclose(self) -> None:
        """Close every connection and let the event loop finish closing them."""
        self._wire.close()
        await asyncio.sleep(0)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- items ---------------------------------------------------------------------------------

    async def get_item(
        self,
        table: str,
        key: Mapping[str, Any],
        *,
        consistent: bool = False,
        projection: Projection = None,
        return_consumed_capacity: Optional[str] = None,
    ) -> Optional[Item]:
        """The item with ``key``, or None (see :meth:`dynamore.Client.get_item`)."""
        payload = get_item_payload(table, key, consistent, projection)
        if return_consumed_capacity is not None:
            with_consumed_capacity(payload, return_consumed_capacity)
        return self._decode((await self._wire.call("GetItem", payload)).get("Item"))

    async def put_item(
        self,
        table: str,
        item: Mapping[str, Any],
        *,
        condition: Optional[str] = None,
        names: Names = None,
        values: Values = None,
        return_values: Optional[ReturnValues] = None,
        return_values_on_failure: Optional[ReturnValuesOnFailure] = None,
        return_consumed_capacity: Optional[str] = None,
    ) -> Optional[Item]:
        """Write ``item`` whole (see :meth:`dynamore.Client.put_item`)."""
        payload = write_payload(
            table,
            condition=condition,
            names=names,
            values=values,
            return_values=return_values,
            return_values_on_failure=return_values_on_failure,
        )
        if return_consumed_capacity is not None:
            with_consumed_capacity(payload, return_consumed_capacity)
        body = self._wire.encode_put(payload, item)
        return self._decode((await self._wire.send("PutItem", body)).get("Attributes"))

    async def update_item(
        self,
        table: str,
        key: Mapping[str, Any],
        *,
        update: str,
        condition: Optional[str] = None,
        names: Names = None,
        values: Values = None,
        return_values: Optional[ReturnValues] = None,
        return_values_on_failure: Optional[ReturnValuesOnFailure] = None,
        return_consumed_capacity: Optional[str] = None,
    ) -> Optional[Item]:
        """Apply an update expression (see :meth:`dynamore.Client.update_item`)."""
        payload = item_write_payload(
            table, "Key", key, condition, names, values, return_values, return_values_on_failure
        )
        if return_consumed_capacity is not None:
            with_consumed_capacity(payload, return_consumed_capacity)
        payload["UpdateExpression"] = update
        return self._decode((await self._wire.call("UpdateItem", payload)).get("Attributes"))

    async def delete_item(
        self,
        table: str,
        key: Mapping[str, Any],
        *,
        condition: Optional[str] = None,
        names: Names = None,
        values: Values = None,
        return_values: Optional[ReturnValues] = None,
        return_values_on_failure: Optional[ReturnValuesOnFailure] = None,
        return_consumed_capacity: Optional[str] = None,
    ) -> Optional[Item]:
        """Delete the item with ``key`` (see :meth:`dynamore.Client.delete_item`)."""
        payload = item_write_payload(
            table, "Key", key, condition, names, values, return_values, return_values_on_failure
        )
        if return_consumed_capacity is not None:
            with_consumed_capacity(payload, return_consumed_capacity)
        return self._decode((await self._wire.call("DeleteItem", payload)).get("Attributes"))

    # -- query and scan ------------------------------------------------------------------------

    async def _page(self, operation: str, payload: dict[str, Any]) -> Page:
        return page_from(await self._wire.call(operation, payload), self._decode_item)

    async def _pages(self, operation: str, payload: dict[str, Any]) -> AsyncIterator[Page]:
        while True:
            page = await self._page(operation, payload)
            yield page
            if page.wire_last_key is None:
                return
            payload = dict(payload, ExclusiveStartKey=page.wire_last_key)

    async def query(
        self,
        table: str,
        key_condition: str,
        *,
        names: Names = None,
        values: Values = None,
        index: Optional[str] = None,
        filter: Optional[str] = None,
        projection: Projection = None,
        limit: Optional[int] = None,
        forward: bool = True,
        consistent: bool = False,
        start_key: Optional[Mapping[str, Any]] = None,
        return_consumed_capacity: Optional[str] = None,
    ) -> Page:
        """One page of a Query (see :meth:`dynamore.Client.query`)."""
        return await self._page(
            "Query",
            with_consumed_capacity(
                query_payload(
                    table,
                    key_condition,
                    names=names,
                    values=values,
                    index=index,
                    filter=filter,
                    projection=projection,
                    limit=limit,
                    forward=forward,
                    consistent=consistent,
                    start_key=start_key,
                ),
                return_consumed_capacity,
            ),
        )

    async def query_all(
        self,
        table: str,
        key_condition: str,
        *,
        names: Names = None,
        values: Values = None,
        index: Optional[str] = None,
        filter: Optional[str] = None,
        projection: Projection = None,
        limit: Optional[int] = None,
        forward: bool = True,
        consistent: bool = False,
        start_key: Optional[Mapping[str, Any]] = None,
    ) -> AsyncIterator[Item]:
        """Every item of every page of a Query, fetched page by page as you iterate
        (``async for``; ``limit`` is the page size)."""
        payload = query_payload(
            table,
            key_condition,
            names=names,
            values=values,
            index=index,
            filter=filter,
            projection=projection,
            limit=limit,
            forward=forward,
            consistent=consistent,
            start_key=start_key,
        )
        async for page in self._pages("Query", payload):
            for item in page.items:
                yield item

    async def scan(
        self,
        table: str,
        *,
        filter: Optional[str] = None,
        names: Names = None,
        values: Values = None,
        index: Optional[str] = None,
        projection: Projection = None,
        limit: Optional[int] = None,
        consistent: bool = False,
        start_key: Optional[Mapping[str, Any]] = None,
        segment: Optional[int] = None,
        total_segments: Optional[int] = None,
        return_consumed_capacity: Optional[str] = None,
    ) -> Page:
        """One page of a Scan (see :meth:`dynamore.Client.scan`)."""
        return await self._page(
            "Scan",
            with_consumed_capacity(
                scan_payload(
                    table,
                    filter=filter,
                    names=names,
                    values=values,
                    index=index,
                    projection=projection,
                    limit=limit,
                    consistent=consistent,
                    start_key=start_key,
                    segment=segment,
                    total_segments=total_segments,
                ),
                return_consumed_capacity,
            ),
        )

    async def scan_all(
        self,
        table: str,
        *,
        filter: Optional[str] = None,
        names: Names = None,
        values: Values = None,
        index: Optional[str] = None,
        projection: Projection = None,
        limit: Optional[int] = None,
        consistent: bool = False,
        segments: int = 1,
    ) -> AsyncIterator[Item]:
        """Every item of a Scan (``async for``). ``segments > 1`` scans that many segments
        in concurrent tasks (items then arrive in no particular order)."""
        payloads = scan_all_payloads(
            table,
            filter=filter,
            names=names,
            values=values,
            index=index,
            projection=projection,
            limit=limit,
            consistent=consistent,
            segments=segments,
        )
        if segments == 1:
            async for page in self._pages("Scan", payloads[0]):
                for item in page.items:
                    yield item
            return
        async for item in self._parallel_items(payloads):
            yield item

    async def _parallel_items(self, payloads: list[dict[str, Any]]) -> AsyncIterator[Item]:
        pages: asyncio.Queue[Union[Page, BaseException, None]] = asyncio.Queue(
            maxsize=2 * len(payloads)
        )

        async def segment(payload: dict[str, Any]) -> None:
            try:
                async for page in self._pages("Scan", payload):
                    await pages.put(page)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # handed to the consumer, raised there
                await pages.put(exc)
                return
            await pages.put(None)

        tasks = [asyncio.ensure_future(segment(p)) for p in payloads]
        running = len(tasks)
        try:
            while running:
                entry = await pages.get()
                if entry is None:
                    running -= 1
                elif isinstance(entry, BaseException):
                    raise entry
                else:
                    for item in entry.items:
                        yield item
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)

    # -- transactions --------------------------------------------------------------------------

    async def transact_write(
        self,
        actions: Iterable[Mapping[str, Mapping[str, Any]]],
        *,
        client_token: Optional[str] = None,
        return_consumed_capacity: Optional[str] = None,
    ) -> None:
        """All-or-nothing writes, with an idempotency token (see
        :meth:`dynamore.Client.transact_write`)."""
        payload = with_consumed_capacity(
            transact_write_payload(actions, client_token), return_consumed_capacity
        )
        await self._wire.call("TransactWriteItems", payload)

    async def transact_get(
        self,
        keys: Iterable[Union[tuple[str, Mapping[str, Any]], Mapping[str, Any]]],
        *,
        return_consumed_capacity: Optional[str] = None,
    ) -> list[Optional[Item]]:
        """Read up to 100 items in one consistent snapshot (see
        :meth:`dynamore.Client.transact_get`)."""
        response = await self._wire.call(
            "TransactGetItems",
            with_consumed_capacity(transact_get_payload(keys), return_consumed_capacity),
        )
        return [self._decode(r.get("Item")) for r in response.get("Responses", [])]

    # -- batches (dynamore/_batch.py, in a worker thread) -----------------------------------------

    async def _in_thread(self, run: Callable[[Wire], _T]) -> _T:
        """``run(wire)`` in a worker thread, on a wire whose requests this loop sends. When the
        awaiting task is cancelled, the batch stops before its next request."""
        if self._bridge is None:
            self._bridge = _BatchBridge(self._wire)
        bridge = self._bridge
        loop = asyncio.get_running_loop()
        cancelled = threading.Event()

        def work() -> _T:
            bridge.bind(loop, cancelled)
            # The bridge has every attribute of a Wire the batch logic uses.
            return run(cast(Wire, bridge))

        try:
            return await asyncio.to_thread(work)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def batch_write(
        self,
        table: str,
        puts: Iterable[Mapping[str, Any]] = (),
        deletes: Iterable[Mapping[str, Any]] = (),
        *,
        key_names: Optional[Sequence[str]] = None,
        attempts: int = DEFAULT_BATCH_ATTEMPTS,
        sleep: Callable[[float], object] = time.sleep,
        give_up: Optional[Callable[[], bool]] = None,
    ) -> None:
        """Write ``puts`` and delete ``deletes`` in as many BatchWriteItem requests as needed
        (see :meth:`dynamore.Client.batch_write`; ``sleep`` and ``give_up`` are called in the
        worker thread that paces the batch)."""
        from dynamore._batch import batch_write

        puts, deletes = list(puts), list(deletes)
        await self._in_thread(
            lambda wire: batch_write(
                wire,
                table,
                puts,
                deletes,
                key_names=key_names,
                attempts=attempts,
                sleep=sleep,
                give_up=give_up,
            )
        )

    async def batch_get(
        self,
        table: str,
        keys: Iterable[Mapping[str, Any]],
        *,
        projection: Projection = None,
        consistent: bool = False,
        attempts: int = DEFAULT_BATCH_ATTEMPTS,
        sleep: Callable[[float], object] = time.sleep,
    ) -> list[Item]:
        """The items with ``keys`` that exist, in the order of ``keys`` (see
        :meth:`dynamore.Client.batch_get`)."""
        from dynamore._batch import batch_get

        key_list = list(keys)
        items: list[Item] = await self._in_thread(
            lambda wire: batch_get(
                wire,
                table,
                key_list,
                projection=projection,
                consistent=consistent,
                attempts=attempts,
                sleep=sleep,
            )
        )
        return items

    # -- tables --------------------------------------------------------------------------------

    async def create_table(
        self,
        name: str,
        *,
        pk: str = "PK",
        sk: Optional[str] = "SK",
        pk_type: str = "S",
        sk_type: str = "S",
        indexes: Sequence[Mapping[str, Any]] = (),
        wait: bool = True,
    ) -> dict[str, Any]:
        """Create an on-demand table (see :meth:`dynamore.Client.create_table`)."""
        payload = create_table_payload(
            name, pk=pk, sk=sk, pk_type=pk_type, sk_type=sk_type, indexes=indexes
        )
        response = await self._wire.call("CreateTable", payload)
        description: dict[str, Any] = response["TableDescription"]
        if wait:
            description = await self.wait_for_table(name)
        return description

    async def wait_for_table(self, name: str, *, timeout: float = 300.0) -> dict[str, Any]:
        """Poll until the table and its indexes are ACTIVE; return its description."""
        deadline = time.monotonic() + timeout
        while True:
            description = await self.describe_table(name)
            if table_is_active(description):
                return description
            if time.monotonic() > deadline:
                raise table_not_active(name, timeout)
            await asyncio.sleep(1.0)

    async def describe_table(self, name: str) -> dict[str, Any]:
        """DescribeTable's ``Table`` description (raises ResourceNotFound if absent)."""
        response = await self._wire.call("DescribeTable", {"TableName": name})
        description: dict[str, Any] = response["Table"]
        return description

    async def delete_table(self, name: str) -> None:
        """Delete a table (raises ResourceNotFound if absent)."""
        await self._wire.call("DeleteTable", {"TableName": name})
