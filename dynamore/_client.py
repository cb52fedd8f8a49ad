"""``Client``: DynamoDB operations with plain Python values in and out.

The client builds each operation's wire payload with :mod:`dynamore.codec` and hands it to the
:class:`~dynamore._protocol.Wire`, which signs, sends, checks and retries. Everything that costs
something to build (signer, transport, credentials, codec tables) is built once per client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from dynamore._config import (
    DEFAULT_BATCH_ATTEMPTS,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_IDLE_TIME,
    DEFAULT_READ_TIMEOUT,
    Endpoint,
    max_attempts_from_env,
    positive_count,
    positive_seconds,
    resolve_endpoint,
    resolve_region,
)
from dynamore._credentials import resolve_credentials
from dynamore._lambda import prewarm_client, register_when_snapstart
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
from dynamore._protocol import ItemDecoder, Stats, Wire, WireCore
from dynamore._retry import RetryPolicy
from dynamore._signing import Signer
from dynamore._transports import Transport, TransportKind, make_transport
from dynamore.codec import item_decoder
from dynamore.exceptions import ConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Union

__all__ = ["Client", "Page"]


def _retry_policy(retry: Union[int, RetryPolicy, None], max_attempts: Optional[int]) -> RetryPolicy:
    """The Client's ``retry=`` (attempts in all, or a policy) as a policy; ``max_attempts=`` is
    its deprecated spelling."""
    if max_attempts is not None:
        import warnings

        warnings.warn(
            "Client(max_attempts=N) is deprecated: pass retry=N", DeprecationWarning, stacklevel=3
        )
        if retry is not None:
            raise ConfigurationError("give retry= only (max_attempts= is its deprecated spelling)")
        retry = max_attempts
    if retry is None:
        return RetryPolicy(max_attempts=max_attempts_from_env())
    if isinstance(retry, RetryPolicy):
        return retry
    if isinstance(retry, bool) or not isinstance(retry, int):
        raise ConfigurationError(
            f"retry must be a number of attempts or a RetryPolicy, not {type(retry).__name__}"
        )
    return RetryPolicy(max_attempts=positive_count("retry", retry))


class ClientBase:
    """What :class:`Client` and :class:`~dynamore.AsyncClient` share: their options, checked
    and resolved the same way, and the plumbing that does no I/O. Subclasses say how to build
    their transport and wire."""

    _wire: WireCore

    def _setup(
        self,
        *,
        region: Optional[str],
        endpoint_url: Optional[str],
        credentials: object,
        transport: object,
        policy: RetryPolicy,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int,
        max_idle_time: float,
        use_decimal: bool,
        on_request: Optional[RequestHook],
    ) -> None:
        # Checked first, even those a given transport object makes moot: a typo must not
        # wait for the first request (or for the transport to change) to surface.
        positive_seconds("connect_timeout", connect_timeout)
        positive_seconds("read_timeout", read_timeout)
        positive_seconds("max_idle_time", max_idle_time)
        positive_count("max_connections", max_connections)
        if on_request is not None and not callable(on_request):
            raise ConfigurationError(
                f"on_request must be a callable taking a RequestRecord, not "
                f"{type(on_request).__name__}"
            )
        self.region = resolve_region(region)
        self.endpoint = Endpoint.parse(resolve_endpoint(endpoint_url, self.region))
        self.use_decimal = use_decimal
        if isinstance(transport, str):
            transport = self._make_transport(
                transport,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_connections=max_connections,
                max_idle_time=max_idle_time,
            )
        self._decode_item: ItemDecoder = item_decoder(use_decimal=use_decimal)
        self._decode_owned: ItemDecoder = item_decoder(use_decimal=use_decimal, in_place=True)
        self._wire = self._make_wire(
            transport=transport,
            signer=Signer(self.region, self.endpoint.host_header),
            credentials=credentials,
            retry=policy,
            decode_item=self._decode_item,
        )
        self._wire.on_request = on_request

    def _make_transport(
        self,
        kind: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int,
        max_idle_time: float,
    ) -> object:
        raise NotImplementedError

    def _make_wire(
        self,
        *,
        transport: Any,
        signer: Signer,
        credentials: object,
        retry: RetryPolicy,
        decode_item: ItemDecoder,
    ) -> WireCore:
        raise NotImplementedError

    @property
    def stats(self) -> Stats:
        """Retries and throttling events this client has met so far."""
        return self._wire.stats

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy every request follows (its backoff also paces batch resends)."""
        return self._wire.retry

    @property
    def decode_item(self) -> ItemDecoder:
        """Wire item -> Python item with this client's number policy (``use_decimal``): what
        its operations return, for code that receives raw AttributeValue maps."""
        return self._decode_item

    def _decode(self, av_map: Optional[dict[str, Any]]) -> Optional[Item]:
        if av_map is None:
            return None
        return self._decode_item(av_map)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint.url} region={self.region}>"


class Client(ClientBase):
    """A low-level DynamoDB client: plain Python values in and out, one request per call.

    Build it once and reuse it (in Lambda: at module level), since it keeps connections alive
    and caches its signing key. It is safe to share between threads.

    >>> with Client(endpoint_url="http://127.0.0.1:8000") as db:   # doctest: +SKIP
    ...     db.put_item("MyTable", {"PK": "PERSON", "SK": "1", "name": "Jeanne"})
    ...     db.get_item("MyTable", {"PK": "PERSON", "SK": "1"})
    {'PK': 'PERSON', 'SK': '1', 'name': 'Jeanne'}

    Options: ``region``, ``endpoint_url`` and ``credentials`` (a ``Credentials``, a
    ``(key, secret[, token])`` tuple or botocore credentials) default to the environment and AWS
    config; ``transport`` is ``"auto"`` (the native keep-alive transport, or botocore's when a
    proxy from the environment applies), ``"native"``, ``"botocore"`` or a transport object;
    either kind trusts ``AWS_CA_BUNDLE`` / the profile's ``ca_bundle`` / ``REQUESTS_CA_BUNDLE``;
    ``retry`` is the number of attempts in all (default 3, or ``AWS_MAX_ATTEMPTS``) or a
    :class:`~dynamore.RetryPolicy` (its own attempts, backoff bases and cap);
    ``connect_timeout``, ``read_timeout`` (seconds), ``max_connections``, ``max_idle_time``
    (seconds a kept-alive connection may stay unused and still be reused; default 30); each
    must be a number > 0, else ConfigurationError. ``use_decimal`` decodes numbers with a
    fraction or exponent as ``Decimal`` instead of ``float`` (exact: a float holds about 17
    significant digits, DynamoDB 38); the decoder is built once, here. ``max_attempts=N`` is a
    deprecated spelling of ``retry=N``. The client may be shared by threads, and survives a
    fork: a child process opens its own connections. ``on_request`` is called after every
    operation with a :class:`~dynamore.RequestRecord` (attempts, status, request id, bytes,
    timings, and ``ConsumedCapacity`` when an operation is given
    ``return_consumed_capacity="TOTAL"`` or ``"INDEXES"``); without it nothing is recorded.
    """

    def __init__(
        self,
        *,
        region: Optional[str] = None,
        endpoint_url: Optional[str] = None,
        credentials: object = None,
        transport: Union[TransportKind, Transport] = "auto",
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
        register_when_snapstart()

    def _make_transport(
        self,
        kind: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int,
        max_idle_time: float,
    ) -> Transport:
        return make_transport(
            self.endpoint.url,
            kind=kind,  # type: ignore[arg-type]  # make_transport checks it
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
    ) -> Wire:
        return Wire(
            transport=transport,
            signer=signer,
            credentials=resolve_credentials(credentials),
            retry=retry,
            decode_item=decode_item,
        )

    # -- plumbing ----------------------------------------------------------------------------

    _wire: Wire

    def send_encoded(
        self,
        operation: str,
        body: bytes,
        *,
        sleep: Optional[Callable[[float], None]] = None,
        stats: Optional[Stats] = None,
    ) -> dict[str, Any]:
        """Send ``operation`` with a body already encoded as wire-form JSON (e.g. a
        BatchWriteItem built from items encoded once, then resent as they are), with this
        client's connections, signing and retries; returns the response JSON.

        ``sleep`` replaces the wait between retries (pass an Event's ``wait`` to cut it short)
        and ``stats`` counts this call's retries instead of :attr:`stats`, so that concurrent
        senders (the bulk loader's workers) can each tell their own.

        >>> client.send_encoded("DescribeTable", b'{"TableName":"MyTable"}')   # doctest: +SKIP
        """
        wire = self._wire
        if sleep is not None or stats is not None:
            wire = wire.derive(
                sleep=sleep if sleep is not None else wire._sleep,
                stats=stats if stats is not None else wire.stats,
            )
        return wire.send(operation, body)

    @property
    def transport(self) -> Transport:
        """The transport in use (its repr shows the connection pool)."""
        return self._wire.transport

    def call(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Any DynamoDB operation by name, with a raw wire-form payload; the raw response.

        >>> db.call("ListTables", {"Limit": 10})   # doctest: +SKIP
        {'TableNames': ['MyTable']}
        """
        return self._wire.call(operation, dict(payload))

    def prewarm(self) -> None:
        """Pay now what the first request would: credentials, the signing key, an open
        connection (DNS, TCP, TLS). Call it at module level in a Lambda (the INIT phase);
        see :func:`dynamore.prewarm` for a DynamoDbProxy and its table check."""
        prewarm_client(self)

    def close(self) -> None:
        """Close every connection. The client must not be used afterwards."""
        self._wire.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- items ---------------------------------------------------------------------------------

    def get_item(
        self,
        table: str,
        key: Mapping[str, Any],
        *,
        consistent: bool = False,
        projection: Projection = None,
        return_consumed_capacity: Optional[str] = None,
    ) -> Optional[Item]:
        """The item with ``key``, or None. ``projection``: attribute names, or an expression."""
        payload = get_item_payload(table, key, consistent, projection)
        if return_consumed_capacity is not None:
            with_consumed_capacity(payload, return_consumed_capacity)
        return self._decode(self._wire.call("GetItem", payload).get("Item"))

    def put_item(
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
        """Write ``item`` whole. Returns the old item with ``return_values="ALL_OLD"``.

        A false ``condition`` raises ConditionalCheckFailed; with
        ``return_values_on_failure="ALL_OLD"`` its ``.item`` is the current item.
        """
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
        return self._decode(self._wire.send("PutItem", body).get("Attributes"))

    def update_item(
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
        """Apply an update expression (``"SET #n = :v"``) to the item with ``key``."""
        payload = item_write_payload(
            table,
            "Key",
            key,
            condition,
            names,
            values,
            return_values,
            return_values_on_failure,
        )
        if return_consumed_capacity is not None:
            with_consumed_capacity(payload, return_consumed_capacity)
        payload["UpdateExpression"] = update
        return self._decode(self._wire.call("UpdateItem", payload).get("Attributes"))

    def delete_item(
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
        """Delete the item with ``key``; ``return_values="ALL_OLD"`` returns what was deleted."""
        payload = item_write_payload(
            table,
            "Key",
            key,
            condition,
            names,
            values,
            return_values,
            return_values_on_failure,
        )
        if return_consumed_capacity is not None:
            with_consumed_capacity(payload, return_consumed_capacity)
        return self._decode(self._wire.call("DeleteItem", payload).get("Attributes"))

    # -- query and scan ------------------------------------------------------------------------

    def _page(self, operation: str, payload: dict[str, Any]) -> Page:
        # The parsed response is this call's alone: its items are decoded in place.
        return page_from(self._wire.call(operation, payload), self._decode_item, self._decode_owned)

    def _pages(self, operation: str, payload: dict[str, Any]) -> Iterator[Page]:
        while True:
            page = self._page(operation, payload)
            yield page
            if page.wire_last_key is None:
                return
            payload = dict(payload, ExclusiveStartKey=page.wire_last_key)

    def query(
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
        """One page of a Query; pass ``page.last_key`` as ``start_key`` to continue.

        >>> page = db.query("MyTable", "PK = :pk", values={":pk": "PERSON"})  # doctest: +SKIP
        """
        return self._page(
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

    def query_all(
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
    ) -> Iterator[Item]:
        """Every item of every page of a Query, fetched page by page as you iterate
        (``limit`` is the page size)."""
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
        for page in self._pages("Query", payload):
            yield from page.items

    def scan(
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
        """One page of a Scan (optionally of one ``segment`` of ``total_segments``)."""
        return self._page(
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

    def scan_all(
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
    ) -> Iterator[Item]:
        """Every item of a Scan. ``segments > 1`` scans that many segments in parallel threads
        (items then arrive in no particular order); ``limit`` is the page size."""
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
            for page in self._pages("Scan", payloads[0]):
                yield from page.items
            return
        yield from self._parallel_pages(payloads)

    def _parallel_pages(self, payloads: list[dict[str, Any]]) -> Iterator[Item]:
        import queue

        pages: queue.Queue[tuple[int, Union[Page, BaseException, None]]] = queue.Queue(
            maxsize=2 * len(payloads)
        )
        stop = threading.Event()

        def put(entry: tuple[int, Union[Page, BaseException, None]]) -> bool:
            while not stop.is_set():
                try:
                    pages.put(entry, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def worker(n: int, payload: dict[str, Any]) -> None:
            try:
                for page in self._pages("Scan", payload):
                    if not put((n, page)):
                        return
            except BaseException as exc:  # handed to the consumer, re-raised there
                put((n, exc))
                return
            put((n, None))

        threads = [
            threading.Thread(target=worker, args=(n, p), daemon=True, name=f"dynamore-scan-{n}")
            for n, p in enumerate(payloads)
        ]
        for thread in threads:
            thread.start()
        running = len(threads)
        try:
            while running:
                _, entry = pages.get()
                if entry is None:
                    running -= 1
                elif isinstance(entry, BaseException):
                    raise entry
                else:
                    yield from entry.items
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    # -- transactions --------------------------------------------------------------------------

    def transact_write(
        self,
        actions: Iterable[Mapping[str, Mapping[str, Any]]],
        *,
        client_token: Optional[str] = None,
        return_consumed_capacity: Optional[str] = None,
    ) -> None:
        """All-or-nothing writes (up to 100). Each action is one of::

            {"Put": {"table": t, "item": {...}, "condition": ..., "names": ..., "values": ...}}
            {"Update": {"table": t, "key": {...}, "update": "SET ...", "condition": ...}}
            {"Delete": {"table": t, "key": {...}, "condition": ...}}
            {"ConditionCheck": {"table": t, "key": {...}, "condition": ...}}

        A failed condition cancels all of them: TransactionCanceled, whose ``reasons`` has one
        entry per action. Each call carries an idempotency token (``client_token``, or a
        random one), so a retry after a lost answer is not applied twice.
        """
        payload = transact_write_payload(actions, client_token)
        if return_consumed_capacity is not None:
            with_consumed_capacity(payload, return_consumed_capacity)
        self._wire.call("TransactWriteItems", payload)

    def transact_get(
        self,
        keys: Iterable[Union[tuple[str, Mapping[str, Any]], Mapping[str, Any]]],
        *,
        return_consumed_capacity: Optional[str] = None,
    ) -> list[Optional[Item]]:
        """Read up to 100 items in one consistent snapshot. Each entry is ``(table, key)`` or
        ``{"table": t, "key": {...}, "projection": [...]}``; the result has one item (or None)
        per entry, in order."""
        response = self._wire.call(
            "TransactGetItems",
            with_consumed_capacity(transact_get_payload(keys), return_consumed_capacity),
        )
        return [self._decode(r.get("Item")) for r in response.get("Responses", [])]

    # -- batches (dynamore/_batch.py) -------------------------------------------------------------

    def batch_write(
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
        """Write ``puts`` (whole items) and delete ``deletes`` (keys), in as many
        BatchWriteItem requests as DynamoDB's limits need, retrying unprocessed items with
        backoff; BatchIncomplete carries whatever is left when ``attempts`` rounds in a row
        processed nothing. ``key_names`` (e.g. ``("PK", "SK")``) saves one DescribeTable;
        ``sleep`` waits out each backoff and ``give_up()``, asked before it, may end the
        batch early (both for bulk loaders)."""
        from dynamore._batch import batch_write

        batch_write(
            self._wire,
            table,
            puts,
            deletes,
            key_names=key_names,
            attempts=attempts,
            sleep=sleep,
            give_up=give_up,
        )

    def batch_get(
        self,
        table: str,
        keys: Iterable[Mapping[str, Any]],
        *,
        projection: Projection = None,
        consistent: bool = False,
        attempts: int = DEFAULT_BATCH_ATTEMPTS,
        sleep: Callable[[float], object] = time.sleep,
    ) -> list[Item]:
        """The items with ``keys`` that exist, in the order of ``keys``, in as many
        BatchGetItem requests as needed; unprocessed keys are retried with backoff (up to
        ``attempts`` rounds in a row without progress, each wait through ``sleep``)."""
        from dynamore._batch import batch_get

        items: list[Item] = batch_get(
            self._wire,
            table,
            keys,
            projection=projection,
            consistent=consistent,
            attempts=attempts,
            sleep=sleep,
        )
        return items

    # -- tables --------------------------------------------------------------------------------

    def create_table(
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
        """Create an on-demand table (keys ``PK``/``SK`` strings by default) and, with
        ``wait``, return once it is ACTIVE. ``indexes``: global secondary indexes, each
        ``{"name": ..., "pk": ..., "sk": ... (optional), "pk_type": "S", "sk_type": "S"}``,
        projecting all attributes."""
        payload = create_table_payload(
            name, pk=pk, sk=sk, pk_type=pk_type, sk_type=sk_type, indexes=indexes
        )
        description: dict[str, Any] = self._wire.call("CreateTable", payload)["TableDescription"]
        if wait:
            description = self.wait_for_table(name)
        return description

    def wait_for_table(self, name: str, *, timeout: float = 300.0) -> dict[str, Any]:
        """Poll until the table and its indexes are ACTIVE; return its description."""
        deadline = time.monotonic() + timeout
        while True:
            description = self.describe_table(name)
            if table_is_active(description):
                return description
            if time.monotonic() > deadline:
                raise table_not_active(name, timeout)
            time.sleep(1.0)

    def describe_table(self, name: str) -> dict[str, Any]:
        """DescribeTable's ``Table`` description (raises ResourceNotFound if absent)."""
        description: dict[str, Any] = self._wire.call("DescribeTable", {"TableName": name})["Table"]
        return description

    def delete_table(self, name: str) -> None:
        """Delete a table (raises ResourceNotFound if absent)."""
        self._wire.call("DeleteTable", {"TableName": name})
