"""``Client``: DynamoDB operations with plain Python values in and out.

The client builds each operation's wire payload with :mod:`dynamore.codec` and hands it to the
:class:`~dynamore._protocol.Wire`, which signs, sends, checks and retries. Everything that costs
something to build (signer, transport, credentials, codec tables) is built once per client.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Optional, Union

from dynamore._config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_READ_TIMEOUT,
    Endpoint,
    max_attempts_from_env,
    resolve_endpoint,
    resolve_region,
)
from dynamore._credentials import resolve_credentials
from dynamore._http import Transport, make_transport
from dynamore._protocol import Stats, Wire
from dynamore._retry import RetryPolicy
from dynamore._signing import Signer
from dynamore.codec import decode_item, encode_item
from dynamore.exceptions import ConfigurationError, ServiceError, ValidationError

__all__ = ["Client", "Page"]

Item = dict[str, Any]
Names = Optional[Mapping[str, str]]
Values = Optional[Mapping[str, Any]]
Projection = Optional[Union[str, Sequence[str]]]

_RETURN_VALUES = frozenset({"NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"})
_TRANSACT_KINDS = ("Put", "Update", "Delete", "ConditionCheck")


class Page(NamedTuple):
    """One page of a Query or Scan: the items and the key to continue from (None at the end)."""

    items: list[Item]
    last_key: Optional[Item]
    count: int
    scanned_count: int


def _add_expression_parts(
    payload: dict[str, Any], names: Names, values: Values, projection: Projection = None
) -> None:
    all_names = dict(names) if names else {}
    if projection is not None:
        if isinstance(projection, str):
            payload["ProjectionExpression"] = projection
        else:
            # Attribute names like "name" or "size" are reserved words: placeholders always work.
            placeholders = []
            for i, attribute in enumerate(projection):
                all_names[f"#p{i}"] = attribute
                placeholders.append(f"#p{i}")
            payload["ProjectionExpression"] = ", ".join(placeholders)
    if all_names:
        payload["ExpressionAttributeNames"] = all_names
    if values:
        payload["ExpressionAttributeValues"] = encode_item(values)


def _check_return_values(value: Optional[str], argument: str = "return_values") -> None:
    if value is not None and value not in _RETURN_VALUES:
        raise ValidationError(argument, f"must be one of {sorted(_RETURN_VALUES)}, not {value!r}")


def _write_payload(
    table: str,
    *,
    condition: Optional[str],
    names: Names,
    values: Values,
    return_values: Optional[str],
    return_values_on_failure: Optional[str],
) -> dict[str, Any]:
    _check_return_values(return_values)
    payload: dict[str, Any] = {"TableName": table}
    if condition is not None:
        payload["ConditionExpression"] = condition
    _add_expression_parts(payload, names, values)
    if return_values is not None:
        payload["ReturnValues"] = return_values
    if return_values_on_failure is not None:
        if return_values_on_failure not in ("ALL_OLD", "NONE"):
            raise ValidationError(
                "return_values_on_failure", "must be 'ALL_OLD' or 'NONE'"
            )
        payload["ReturnValuesOnConditionCheckFailure"] = return_values_on_failure
    return payload


class Client:
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
    proxy or ``AWS_CA_BUNDLE`` applies), ``"native"``, ``"botocore"`` or a transport object;
    ``max_attempts`` (default 3, or ``AWS_MAX_ATTEMPTS``), ``connect_timeout``, ``read_timeout``,
    ``max_connections``; ``use_decimal`` decodes numbers with a fraction or exponent as
    ``Decimal`` instead of ``float``.
    """

    def __init__(
        self,
        *,
        region: Optional[str] = None,
        endpoint_url: Optional[str] = None,
        credentials: object = None,
        transport: Union[str, Transport] = "auto",
        max_attempts: Optional[int] = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        use_decimal: bool = False,
        retry: Optional[RetryPolicy] = None,
    ) -> None:
        self.region = resolve_region(region)
        self.endpoint = Endpoint.parse(resolve_endpoint(endpoint_url, self.region))
        self.use_decimal = use_decimal
        if isinstance(transport, str):
            transport = make_transport(
                self.endpoint.url,
                kind=transport,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_connections=max_connections,
            )
        if retry is None:
            attempts = max_attempts if max_attempts is not None else max_attempts_from_env()
            if attempts < 1:
                raise ConfigurationError("max_attempts must be at least 1")
            retry = RetryPolicy(max_attempts=attempts)
        self._wire = Wire(
            transport=transport,
            signer=Signer(self.region, self.endpoint.host_header),
            credentials=resolve_credentials(credentials),
            retry=retry,
        )

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def stats(self) -> Stats:
        """Retries and throttling events this client has met so far."""
        return self._wire.stats

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

    def _decode(self, av_map: Optional[Mapping[str, Any]]) -> Optional[Item]:
        if av_map is None:
            return None
        return decode_item(av_map, use_decimal=self.use_decimal)

    def close(self) -> None:
        """Close every connection. The client must not be used afterwards."""
        self._wire.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self.endpoint.url} region={self.region}>"

    # -- items ---------------------------------------------------------------------------------

    def get_item(
        self,
        table: str,
        key: Mapping[str, Any],
        *,
        consistent: bool = False,
        projection: Projection = None,
    ) -> Optional[Item]:
        """The item with ``key``, or None. ``projection``: attribute names, or an expression."""
        payload: dict[str, Any] = {"TableName": table, "Key": encode_item(key)}
        if consistent:
            payload["ConsistentRead"] = True
        _add_expression_parts(payload, None, None, projection)
        return self._decode(self._wire.call("GetItem", payload).get("Item"))

    def put_item(
        self,
        table: str,
        item: Mapping[str, Any],
        *,
        condition: Optional[str] = None,
        names: Names = None,
        values: Values = None,
        return_values: Optional[str] = None,
        return_values_on_failure: Optional[str] = None,
    ) -> Optional[Item]:
        """Write ``item`` whole. Returns the old item with ``return_values="ALL_OLD"``.

        A false ``condition`` raises ConditionalCheckFailed; with
        ``return_values_on_failure="ALL_OLD"`` its ``.item`` is the current item.
        """
        payload = _write_payload(
            table,
            condition=condition,
            names=names,
            values=values,
            return_values=return_values,
            return_values_on_failure=return_values_on_failure,
        )
        payload["Item"] = encode_item(item)
        return self._decode(self._wire.call("PutItem", payload).get("Attributes"))

    def update_item(
        self,
        table: str,
        key: Mapping[str, Any],
        *,
        update: str,
        condition: Optional[str] = None,
        names: Names = None,
        values: Values = None,
        return_values: Optional[str] = None,
        return_values_on_failure: Optional[str] = None,
    ) -> Optional[Item]:
        """Apply an update expression (``"SET #n = :v"``) to the item with ``key``."""
        payload = _write_payload(
            table,
            condition=condition,
            names=names,
            values=values,
            return_values=return_values,
            return_values_on_failure=return_values_on_failure,
        )
        payload["Key"] = encode_item(key)
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
        return_values: Optional[str] = None,
        return_values_on_failure: Optional[str] = None,
    ) -> Optional[Item]:
        """Delete the item with ``key``; ``return_values="ALL_OLD"`` returns what was deleted."""
        payload = _write_payload(
            table,
            condition=condition,
            names=names,
            values=values,
            return_values=return_values,
            return_values_on_failure=return_values_on_failure,
        )
        payload["Key"] = encode_item(key)
        return self._decode(self._wire.call("DeleteItem", payload).get("Attributes"))

    # -- query and scan ------------------------------------------------------------------------

    def _page(self, operation: str, payload: dict[str, Any]) -> Page:
        response = self._wire.call(operation, payload)
        decode = decode_item
        use_decimal = self.use_decimal
        items = [decode(item, use_decimal=use_decimal) for item in response.get("Items", ())]
        return Page(
            items,
            self._decode(response.get("LastEvaluatedKey")),
            int(response.get("Count", len(items))),
            int(response.get("ScannedCount", len(items))),
        )

    def _pages(self, operation: str, payload: dict[str, Any]) -> Iterator[Page]:
        while True:
            page = self._page(operation, payload)
            yield page
            if page.last_key is None:
                return
            payload = dict(payload, ExclusiveStartKey=encode_item(page.last_key))

    @staticmethod
    def _query_payload(
        table: str,
        key_condition: str,
        *,
        names: Names,
        values: Values,
        index: Optional[str],
        filter: Optional[str],
        projection: Projection,
        limit: Optional[int],
        forward: bool,
        consistent: bool,
        start_key: Optional[Mapping[str, Any]],
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"TableName": table, "KeyConditionExpression": key_condition}
        if index is not None:
            payload["IndexName"] = index
        if filter is not None:
            payload["FilterExpression"] = filter
        if limit is not None:
            payload["Limit"] = limit
        if not forward:
            payload["ScanIndexForward"] = False
        if consistent:
            payload["ConsistentRead"] = True
        if start_key is not None:
            payload["ExclusiveStartKey"] = encode_item(start_key)
        _add_expression_parts(payload, names, values, projection)
        return payload

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
    ) -> Page:
        """One page of a Query; pass ``page.last_key`` as ``start_key`` to continue.

        >>> page = db.query("MyTable", "PK = :pk", values={":pk": "PERSON"})  # doctest: +SKIP
        """
        return self._page(
            "Query",
            self._query_payload(
                table, key_condition, names=names, values=values, index=index, filter=filter,
                projection=projection, limit=limit, forward=forward, consistent=consistent,
                start_key=start_key,
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
        payload = self._query_payload(
            table, key_condition, names=names, values=values, index=index, filter=filter,
            projection=projection, limit=limit, forward=forward, consistent=consistent,
            start_key=start_key,
        )
        for page in self._pages("Query", payload):
            yield from page.items

    @staticmethod
    def _scan_payload(
        table: str,
        *,
        filter: Optional[str],
        names: Names,
        values: Values,
        index: Optional[str],
        projection: Projection,
        limit: Optional[int],
        consistent: bool,
        start_key: Optional[Mapping[str, Any]],
        segment: Optional[int],
        total_segments: Optional[int],
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"TableName": table}
        if index is not None:
            payload["IndexName"] = index
        if filter is not None:
            payload["FilterExpression"] = filter
        if limit is not None:
            payload["Limit"] = limit
        if consistent:
            payload["ConsistentRead"] = True
        if start_key is not None:
            payload["ExclusiveStartKey"] = encode_item(start_key)
        if total_segments is not None:
            payload["Segment"] = segment or 0
            payload["TotalSegments"] = total_segments
        _add_expression_parts(payload, names, values, projection)
        return payload

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
    ) -> Page:
        """One page of a Scan (optionally of one ``segment`` of ``total_segments``)."""
        return self._page(
            "Scan",
            self._scan_payload(
                table, filter=filter, names=names, values=values, index=index,
                projection=projection, limit=limit, consistent=consistent, start_key=start_key,
                segment=segment, total_segments=total_segments,
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
        if segments < 1:
            raise ValidationError("segments", "must be at least 1")
        payloads = [
            self._scan_payload(
                table, filter=filter, names=names, values=values, index=index,
                projection=projection, limit=limit, consistent=consistent, start_key=None,
                segment=n, total_segments=segments if segments > 1 else None,
            )
            for n in range(segments)
        ]
        if segments == 1:
            for page in self._pages("Scan", payloads[0]):
                yield from page.items
            return
        yield from self._parallel_pages(payloads)

    def _parallel_pages(self, payloads: list[dict[str, Any]]) -> Iterator[Item]:
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

    @staticmethod
    def _transact_action(action: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        if len(action) != 1 or next(iter(action)) not in _TRANSACT_KINDS:
            raise ValidationError(
                "actions", f"each action is a dict with one key of {list(_TRANSACT_KINDS)}"
            )
        kind, spec = next(iter(action.items()))
        body: dict[str, Any] = {"TableName": spec["table"]}
        if kind == "Put":
            body["Item"] = encode_item(spec["item"])
        else:
            body["Key"] = encode_item(spec["key"])
        if kind == "Update":
            body["UpdateExpression"] = spec["update"]
        if spec.get("condition") is not None:
            body["ConditionExpression"] = spec["condition"]
        elif kind == "ConditionCheck":
            raise ValidationError("actions", "a ConditionCheck needs a condition")
        _add_expression_parts(body, spec.get("names"), spec.get("values"))
        if spec.get("return_values_on_failure") is not None:
            body["ReturnValuesOnConditionCheckFailure"] = spec["return_values_on_failure"]
        return {kind: body}

    def transact_write(
        self,
        actions: Iterable[Mapping[str, Mapping[str, Any]]],
        *,
        client_token: Optional[str] = None,
    ) -> None:
        """All-or-nothing writes (up to 100). Each action is one of::

            {"Put": {"table": t, "item": {...}, "condition": ..., "names": ..., "values": ...}}
            {"Update": {"table": t, "key": {...}, "update": "SET ...", "condition": ...}}
            {"Delete": {"table": t, "key": {...}, "condition": ...}}
            {"ConditionCheck": {"table": t, "key": {...}, "condition": ...}}

        A failed condition cancels all of them: TransactionCanceled, whose ``reasons`` has one
        entry per action. ``client_token`` makes a retried call idempotent (10 minutes).
        """
        payload: dict[str, Any] = {
            "TransactItems": [self._transact_action(action) for action in actions]
        }
        if client_token is not None:
            payload["ClientRequestToken"] = client_token
        self._wire.call("TransactWriteItems", payload)

    def transact_get(
        self, keys: Iterable[Union[tuple[str, Mapping[str, Any]], Mapping[str, Any]]]
    ) -> list[Optional[Item]]:
        """Read up to 100 items in one consistent snapshot. Each entry is ``(table, key)`` or
        ``{"table": t, "key": {...}, "projection": [...]}``; the result has one item (or None)
        per entry, in order."""
        gets = []
        for entry in keys:
            if isinstance(entry, tuple):
                table, key = entry
                spec: Mapping[str, Any] = {"table": table, "key": key}
            else:
                spec = entry
            body: dict[str, Any] = {"TableName": spec["table"], "Key": encode_item(spec["key"])}
            _add_expression_parts(body, None, None, spec.get("projection"))
            gets.append({"Get": body})
        response = self._wire.call("TransactGetItems", {"TransactItems": gets})
        return [self._decode(r.get("Item")) for r in response.get("Responses", [])]

    # -- batches (dynamore/_batch.py) -------------------------------------------------------------

    def batch_write(
        self,
        table: str,
        puts: Iterable[Mapping[str, Any]] = (),
        deletes: Iterable[Mapping[str, Any]] = (),
        **options: Any,
    ) -> None:
        """Write ``puts`` (whole items) and delete ``deletes`` (keys), in as many
        BatchWriteItem requests as DynamoDB's limits need, retrying unprocessed items with
        backoff; BatchIncomplete carries whatever is left when retries run out."""
        from dynamore._batch import batch_write

        batch_write(self._wire, table, puts, deletes, **options)

    def batch_get(
        self,
        table: str,
        keys: Iterable[Mapping[str, Any]],
        *,
        projection: Projection = None,
        consistent: bool = False,
        **options: Any,
    ) -> list[Item]:
        """The items with ``keys`` that exist, in the order of ``keys``, in as many
        BatchGetItem requests as needed; unprocessed keys are retried with backoff."""
        from dynamore._batch import batch_get

        return batch_get(
            self._wire, table, keys, projection=projection, consistent=consistent,
            use_decimal=self.use_decimal, **options,
        )

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
        types = {pk: pk_type}
        schema = [{"AttributeName": pk, "KeyType": "HASH"}]
        if sk is not None:
            types[sk] = sk_type
            schema.append({"AttributeName": sk, "KeyType": "RANGE"})
        gsis = []
        for index in indexes:
            index_schema = [{"AttributeName": index["pk"], "KeyType": "HASH"}]
            types[index["pk"]] = index.get("pk_type", "S")
            if index.get("sk"):
                index_schema.append({"AttributeName": index["sk"], "KeyType": "RANGE"})
                types[index["sk"]] = index.get("sk_type", "S")
            gsis.append(
                {
                    "IndexName": index["name"],
                    "KeySchema": index_schema,
                    "Projection": {"ProjectionType": "ALL"},
                }
            )
        payload: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": [
                {"AttributeName": a, "AttributeType": t} for a, t in types.items()
            ],
            "KeySchema": schema,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if gsis:
            payload["GlobalSecondaryIndexes"] = gsis
        description: dict[str, Any] = self._wire.call("CreateTable", payload)["TableDescription"]
        if wait:
            description = self.wait_for_table(name)
        return description

    def wait_for_table(self, name: str, *, timeout: float = 300.0) -> dict[str, Any]:
        """Poll until the table and its indexes are ACTIVE; return its description."""
        deadline = time.monotonic() + timeout
        while True:
            description = self.describe_table(name)
            indexes = description.get("GlobalSecondaryIndexes", [])
            if description.get("TableStatus") == "ACTIVE" and all(
                i.get("IndexStatus") == "ACTIVE" for i in indexes
            ):
                return description
            if time.monotonic() > deadline:
                raise ServiceError(
                    "TableNotActive", f"table {name!r} is not ACTIVE after {timeout:.0f} s"
                )
            time.sleep(1.0)

    def describe_table(self, name: str) -> dict[str, Any]:
        """DescribeTable's ``Table`` description (raises ResourceNotFound if absent)."""
        description: dict[str, Any] = self._wire.call("DescribeTable", {"TableName": name})[
            "Table"
        ]
        return description

    def delete_table(self, name: str) -> None:
        """Delete a table (raises ResourceNotFound if absent)."""
        self._wire.call("DeleteTable", {"TableName": name})
