"""``DynamoDbProxy``: REST-like verbs over one DynamoDB table, one atomic request per write.

>>> db = DynamoDbProxy(table_name="MyTable")                       # doctest: +SKIP
>>> db.post(entity_class=Person, data={"id_number": "1", ...})      # doctest: +SKIP

- ``post`` creates (``AlreadyExists`` if the id exists), ``get`` reads one item by id or lists
  every item of the type, ``put`` replaces and ``patch`` merges (``NotFound`` if absent),
  ``delete`` removes and returns the item (``NotFound`` if absent).
- Every write is a single conditional request, so two writers never silently overwrite each
  other. ``put`` and ``patch`` are ``UpdateItem`` requests that touch only the entity's own
  attributes (and the dynamic ones it computes): attributes the entity does not own (a TTL
  another writer set, index keys, anything outside the schema) survive. A patch is one
  ``UpdateItem`` when the schema has no rules that tie attributes together (each patched
  attribute is then validated on its own, which is equivalent); when it has such rules, or
  the entity overrides ``pre`` or ``add_dynamic_attributes`` (which need the stored item), the
  verb reads the item, validates the merged result and writes it on condition that the item is
  unchanged since the read, retrying with jittered backoff a few times (``ConcurrentUpdate``
  if it keeps changing).
- A ``post`` whose answer was lost and whose retry meets its own write succeeds: only then
  (the client marks the error ``ambiguous``), and only when the stored item equals what was
  sent in DynamoDB's own terms (:func:`dynamore.codec.canonical_item`). Any other ``post``
  that finds the id taken raises ``AlreadyExists``, even when the stored item is identical.
- Opt-ins per entity class (:mod:`dynamore._managed`): ``VERSION_ATTRIBUTE`` (version 1 on
  post, + 1 on every put and patch in the same request; ``if_match=N`` on put, patch and
  delete, else PreconditionFailed with ``.current`` from the failed condition), ``TIMESTAMPS``
  and ``TTL_ATTRIBUTE`` (expired items are absent to every verb and listing, decided by the
  request's condition or filter). :meth:`DynamoDbProxy.transaction` writes several entities
  all or nothing (:mod:`dynamore._transaction`).
- Before its first write to a table, a proxy checks once per process that the table's key
  schema is the entity's ``pr_keys()`` (one ``DescribeTable``; ``check_table=False`` skips it).
- :class:`AsyncDynamoDbProxy` (:mod:`dynamore._async_proxy`, imported on first use) has the same
  verbs on asyncio: the write verbs' decisions are written once, in :mod:`dynamore._verbs`,
  and each proxy drives them with its own client.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Optional, TypeVar

import dynamore._verbs as _verbs
from dynamore._client import Client
from dynamore._config import (
    DEFAULT_BATCH_ATTEMPTS,
    DEFAULT_DEADLINE_MARGIN_MS,
    DEFAULT_KEEP,
    DEFAULT_LOAD_WORKERS,
)
from dynamore._cursor import CursorCodec
from dynamore._cursor import cursor_key as resolve_cursor_key
from dynamore._keyschema import check_table_keys
from dynamore._query import (
    QueryPage,
    check_limit,
    close_page,
    compile_query,
    iter_items,
    open_page,
    query_page,
)
from dynamore._transaction import Transaction
from dynamore._verbs import (
    CHECK_TABLE,
    GUARDED_WRITE_ATTEMPTS,
    GUARDED_WRITE_BASE,
    GUARDED_WRITE_CAP,
    MAX_EXPRESSION_LENGTH,
    PAUSE,
    Plan,
    guarded_write_delay,
)
from dynamore.entity import Entity
from dynamore.exceptions import (
    AlreadyExists,
    NotFound,
    PreconditionFailed,
    TransactionFailed,
)

if TYPE_CHECKING:  # the loader and the asyncio proxy are imported on first use only
    from dynamore._async_proxy import AsyncDynamoDbProxy
    from dynamore.loader import Checkpoint, LoadReport, Mode, Progress, Reject

__all__ = [
    "GUARDED_WRITE_ATTEMPTS",
    "GUARDED_WRITE_BASE",
    "GUARDED_WRITE_CAP",
    "MAX_EXPRESSION_LENGTH",
    "AlreadyExists",
    "AsyncDynamoDbProxy",
    "DynamoDbProxy",
    "NotFound",
    "PreconditionFailed",
    "QueryPage",
    "Transaction",
    "TransactionFailed",
    "guarded_write_delay",
    "shared_client",
]

Item = dict[str, Any]
EntityClass = type[Entity]
_T = TypeVar("_T")

_shared: Optional[Client] = None
_shared_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    # AsyncDynamoDbProxy on first use only: importing this module loads no asyncio machinery.
    if name == "AsyncDynamoDbProxy":
        from dynamore._async_proxy import AsyncDynamoDbProxy

        return AsyncDynamoDbProxy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def shared_client() -> Client:
    """The process-wide Client used by proxies built without one (created on first use), so
    a Lambda handler reuses its connections across invocations."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = Client()
    return _shared


class DynamoDbProxy:
    """REST-like verbs (post, get, put, patch, delete) for Entity classes in one table.

    ``client``: a :class:`dynamore.Client`; by default one shared per process (endpoint,
    region and credentials from the environment, e.g. ``DDB_ENDPOINT`` for DynamoDB Local).
    ``check_table``: before the first write of an entity type, check that the table's keys
    are the entity's ``pr_keys()`` (one ``DescribeTable`` per table per process, needing the
    ``dynamodb:DescribeTable`` permission); a mismatch is a ConfigurationError. ``sleep`` and
    ``jitter`` serve the backoff between read-merge-write attempts (see
    :func:`guarded_write_delay`); tests inject them. ``cursor_key`` (bytes, at least 16; by
    default ``$DYNAMORE_CURSOR_KEY``) signs the cursors of :meth:`query` pages, see
    :mod:`dynamore._cursor`.

    >>> db = DynamoDbProxy(table_name="MyTable", check_table=False)   # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        table_name: str,
        client: Optional[Client] = None,
        check_table: bool = True,
        sleep: Callable[[float], None] = time.sleep,
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
    def client(self) -> Client:
        """The Client this proxy sends through."""
        if self._client is None:
            self._client = shared_client()
        return self._client

    def _must_check(self, entity_class: EntityClass) -> bool:
        """Is the table check of ``entity_class`` still to be done by this proxy?"""
        return self.check_table and entity_class not in self._checked

    def ensure_table(self, entity_class: EntityClass) -> None:
        """Check that the table's key schema is ``entity_class.pr_keys()`` (see the class
        docstring); the verbs that write call it. ConfigurationError naming both if not."""
        if not self.check_table or entity_class in self._checked:
            return
        check_table_keys(self.client, self.table_name, entity_class)
        self._checked.add(entity_class)

    def prewarm(self, *entity_classes: EntityClass) -> None:
        """In a Lambda's INIT phase: open the client's connection, derive its signing key and
        run the table check for ``entity_classes`` (see :func:`dynamore.prewarm`)."""
        from dynamore._lambda import prewarm

        prewarm(self, *entity_classes)

    # -- verbs ----------------------------------------------------------------------------------

    def get(self, *, entity_class: EntityClass, data: Optional[Item] = None) -> Optional[Any]:
        """With the id in ``data``: that item, or None (also when it has expired). Without:
        every item of the type that has not expired (a list, across all pages)."""
        if data and entity_class.ID_ATTRIBUTE in data:
            return _verbs.live(
                entity_class, self.client.get_item(self.table_name, entity_class.key_for(data))
            )
        every, _ = query_page(
            self.client,
            self.table_name,
            compile_query(entity_class)[0],
            limit=None,
            partitions=entity_class.partitions(),
        )
        return [entity_class.drop_keys(item) for item in every]

    def post(self, *, entity_class: EntityClass, data: Item) -> Item:
        """Create the entity; AlreadyExists if its id is taken (by an item that has not
        expired). Returns the stored data (with its version and timestamps, if kept)."""
        return self._run(
            _verbs.post(self.table_name, entity_class, data, check=self._must_check(entity_class))
        )

    def put(self, *, entity_class: EntityClass, data: Item, if_match: Optional[int] = None) -> Item:
        """Replace the entity's own attributes; NotFound if it does not exist (or has
        expired). Attributes the entity does not own survive (see :meth:`Entity.owns`).
        ``if_match=N`` (versioned entities): only if the stored version is N, else
        PreconditionFailed carrying the stored data as ``.current``. Returns the stored data."""
        return self._run(
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

    def patch(
        self, *, entity_class: EntityClass, data: Item, if_match: Optional[int] = None
    ) -> Item:
        """Merge ``data`` into the stored entity; NotFound if it does not exist (or has
        expired). The merged entity must satisfy the schema; attributes not in ``data`` are
        left as they are. ``if_match=N`` as for :meth:`put`. Returns the merged data."""
        return self._run(
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

    def delete(
        self, *, entity_class: EntityClass, data: Item, if_match: Optional[int] = None
    ) -> Item:
        """Delete the entity; NotFound if it does not exist (or has expired). ``if_match=N``
        as for :meth:`put`. Returns the deleted data."""
        return self._run(
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

    def _run(self, plan: Plan[_T]) -> _T:
        """Carry out a verb's plan (:mod:`dynamore._verbs`): make each call it asks for and
        hand back the result, or throw in the error."""
        client = self.client
        try:
            step = next(plan)
            while True:
                op, args, kwargs = step
                try:
                    result: Any = None
                    if op == CHECK_TABLE:
                        self.ensure_table(*args)
                    elif op == PAUSE:
                        self._sleep(*args)
                    else:
                        result = getattr(client, op)(*args, **kwargs)
                except Exception as exc:
                    error: Optional[Exception] = exc
                else:
                    error = None
                # Outside the handler, so that an error the plan raises in turn is not
                # chained to the one it was given.
                step = plan.send(result) if error is None else plan.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def transaction(self) -> Transaction:
        """A transaction of entity writes, committed as one ``TransactWriteItems`` when the
        ``with`` block ends (nothing is sent if it raises); see :class:`Transaction`.

        >>> with db.transaction() as tx:                                    # doctest: +SKIP
        ...     tx.post(entity_class=Order, data=order)
        ...     tx.patch(entity_class=Stock, data={"sku": "a", "count": 4}, if_match=7)
        """
        return Transaction(self)

    def query(
        self,
        *,
        entity_class: EntityClass,
        where: Optional[Mapping[str, Any]] = None,
        index: Optional[str] = None,
        limit: int = 25,
        cursor: Optional[str] = None,
        descending: bool = False,
    ) -> QueryPage:
        """One page of the items of ``entity_class`` that satisfy ``where`` (see
        :mod:`dynamore._where`), in key order (the id's, or the index's sort attributes' with
        ``index``), reversed with ``descending``. The page holds ``limit`` items (1 to 1000)
        unless the data ends; ``page.cursor`` fetches the next one (None at the end). A cursor
        made for another entity type, index, ``where`` or direction, or altered, raises
        InvalidCursor. Everything is checked before any request."""
        compiled, binding, start = open_page(
            self._cursors, entity_class, where, index, limit, cursor, descending
        )
        raw, position = query_page(
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
    ) -> Iterator[Item]:
        """Every item :meth:`query` would return, page after page, read lazily: a page of
        ``page_size`` items is fetched only when the previous one has been consumed. The
        arguments are checked at the call, before any request."""
        compiled, _ = compile_query(entity_class, where, index, descending)
        check_limit(page_size)
        drop = entity_class.drop_keys
        items = iter_items(
            self.client,
            self.table_name,
            compiled,
            page_size=page_size,
            forward=not descending,
            partitions=entity_class.partitions(),
        )
        return (drop(item) for item in items)

    def load(
        self,
        entity_class: EntityClass,
        items: Iterable[Any],
        *,
        mode: Mode = "upsert",
        workers: int = DEFAULT_LOAD_WORKERS,
        resume: Optional[Checkpoint] = None,
        deadline: Optional[Callable[[], float]] = None,
        deadline_margin_ms: float = DEFAULT_DEADLINE_MARGIN_MS,
        stop: Optional[threading.Event] = None,
        parse: Optional[Callable[[Any], Any]] = None,
        on_reject: Optional[Callable[[Reject], None]] = None,
        on_progress: Optional[Callable[[Progress], None]] = None,
        progress_interval: float = 1.0,
        on_checkpoint: Optional[Callable[[Checkpoint], None]] = None,
        checkpoint_every: int = 1000,
        checkpoint_interval: float = 1.0,
        keep: int = DEFAULT_KEEP,
        batch_attempts: int = DEFAULT_BATCH_ATTEMPTS,
    ) -> LoadReport:
        """Bulk-load ``items`` (any iterable, read lazily) into this proxy's table: validate
        each with the entity's compiled validator and write the valid ones concurrently;
        returns a LoadReport. The options are those of :func:`dynamore.loader.load`, which
        documents them; the table check follows this proxy's ``check_table``."""
        from dynamore.loader import load

        return load(
            self.client,
            self.table_name,
            entity_class,
            items,
            check_table=self.check_table,
            mode=mode,
            workers=workers,
            resume=resume,
            deadline=deadline,
            deadline_margin_ms=deadline_margin_ms,
            stop=stop,
            parse=parse,
            on_reject=on_reject,
            on_progress=on_progress,
            progress_interval=progress_interval,
            on_checkpoint=on_checkpoint,
            checkpoint_every=checkpoint_every,
            checkpoint_interval=checkpoint_interval,
            keep=keep,
            batch_attempts=batch_attempts,
        )
