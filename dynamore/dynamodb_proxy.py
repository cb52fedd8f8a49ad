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
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Optional

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
from dynamore._managed import WRITE_TOKEN_ATTRIBUTE as WRITE_TOKEN
from dynamore._managed import is_expired, new_token
from dynamore._query import (
    QueryPage,
    check_limit,
    compile_query,
    decode_position,
    iter_items,
    query_page,
)
from dynamore._transaction import Transaction
from dynamore._writes import (
    Change,
    delete_step,
    merge_step,
    patch_reads,
    put_reads,
    put_update,
    replace_step,
    update_expression,
)
from dynamore.codec import canonical_item, encode_item, item_decoder
from dynamore.entity import Entity
from dynamore.exceptions import (
    AlreadyExists,
    ConcurrentUpdate,
    ConditionalCheckFailed,
    EntityError,
    NotFound,
    PreconditionFailed,
    TransactionFailed,
)

if TYPE_CHECKING:  # the loader is imported on first use only
    from dynamore.loader import Checkpoint, LoadReport, Mode, Progress, Reject

__all__ = [
    "GUARDED_WRITE_ATTEMPTS",
    "GUARDED_WRITE_BASE",
    "GUARDED_WRITE_CAP",
    "MAX_EXPRESSION_LENGTH",
    "AlreadyExists",
    "DynamoDbProxy",
    "NotFound",
    "PreconditionFailed",
    "QueryPage",
    "Transaction",
    "TransactionFailed",
    "guarded_write_delay",
    "shared_client",
]

#: Read-merge-write attempts before ConcurrentUpdate.
GUARDED_WRITE_ATTEMPTS = 5
#: Backoff between those attempts, in seconds: full jitter, ``random() * min(base * 2**n, cap)``.
GUARDED_WRITE_BASE = 0.02
GUARDED_WRITE_CAP = 0.5
#: DynamoDB's limit on an expression's length; a longer put is written by read-merge-write.
MAX_EXPRESSION_LENGTH = 4096

Item = dict[str, Any]
EntityClass = type[Entity]


# Exact numbers (Decimal) where a value goes back to DynamoDB: the guarded write's condition,
# the key a listing resumes from. One decoder, built once.
_decode_exact = item_decoder(use_decimal=True)

_shared: Optional[Client] = None
_shared_lock = threading.Lock()


def shared_client() -> Client:
    """The process-wide Client used by proxies built without one (created on first use), so
    a Lambda handler reuses its connections across invocations."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = Client()
    return _shared


def guarded_write_delay(attempt: int, jitter: Callable[[], float] = random.random) -> float:
    """Seconds to wait after read-merge-write attempt ``attempt`` (from 1) met a concurrent
    change: full jitter, so that writers who collided spread out instead of colliding again.

    >>> guarded_write_delay(1, lambda: 0.5), guarded_write_delay(3, lambda: 0.5)
    (0.01, 0.04)
    """
    return jitter() * min(GUARDED_WRITE_BASE * 2.0 ** min(attempt - 1, 32), GUARDED_WRITE_CAP)


def _unchanged_since(
    read: Item, entity_class: EntityClass
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A condition that holds only while the stored item still equals ``read``: every
    attribute read keeps its value, and no attribute the schema knows has appeared."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    parts = []
    keys = entity_class.pr_keys()
    for i, (name, value) in enumerate(read.items()):
        if name in keys:
            continue
        names[f"#u{i}"] = name
        values[f":u{i}"] = value
        parts.append(f"#u{i} = :u{i}")
    known = entity_class.SCHEMA.get("properties", {})
    for j, name in enumerate(n for n in known if n not in read):
        names[f"#n{j}"] = name
        parts.append(f"attribute_not_exists(#n{j})")
    names["#pk"] = keys[0]
    parts.append("attribute_exists(#pk)")
    return " AND ".join(parts), names, values


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
        managed = entity_class._managed
        if data and entity_class.ID_ATTRIBUTE in data:
            item = self.client.get_item(self.table_name, entity_class.key_for(data))
            if item is None or (
                managed.ttl is not None and is_expired(item, managed.ttl, time.time())
            ):
                return None
            return entity_class.strip_keys(item)
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
        instance, item, condition, names, values = self._post_write(entity_class, data)
        try:
            self.client.put_item(
                self.table_name,
                item,
                condition=condition,
                names=names,
                values=values or None,
                return_values_on_failure="ALL_OLD",
            )
        except ConditionalCheckFailed as exc:
            if not (exc.ambiguous and _is_own_write(item, exc)):
                raise AlreadyExists(self._describe(entity_class, data)) from None
        entity_class.post(http_method="POST", data=item)
        return {**instance.data(), **entity_class._managed.view(item)}

    def _post_write(
        self, entity_class: EntityClass, data: Item
    ) -> tuple[Entity, Item, str, dict[str, str], dict[str, Any]]:
        """Everything ``post`` checks and sends: the entity, the item, the condition and its
        placeholders (the pre hook has run)."""
        entity_class.check_keys_absent(data)
        managed = entity_class._managed
        now = time.time() if managed.clock else 0.0
        instance = entity_class(managed.writable(data))
        item = instance.data_with_identity()
        managed.stamp_new(item, now)
        self.ensure_table(entity_class)
        if entity_class.pre(http_method="POST", data=item) is False:
            raise PreconditionFailed(f"{entity_class.__name__}.pre refused POST")
        names = {"#pk": entity_class.pr_keys()[0]}
        values: dict[str, Any] = {}
        condition = managed.create_condition(names, values, now)
        return instance, item, condition, names, values

    def put(self, *, entity_class: EntityClass, data: Item, if_match: Optional[int] = None) -> Item:
        """Replace the entity's own attributes; NotFound if it does not exist (or has
        expired). Attributes the entity does not own survive (see :meth:`Entity.owns`).
        ``if_match=N`` (versioned entities): only if the stored version is N, else
        PreconditionFailed carrying the stored data as ``.current``. Returns the stored data."""
        managed = entity_class._managed
        if_match = managed.check_if_match(if_match, entity_class.__name__)
        entity_class.check_keys_absent(data)
        instance = entity_class(managed.writable(data))
        item = instance.data_with_identity()
        self.ensure_table(entity_class)
        now = time.time() if managed.clock else 0.0
        token = new_token() if managed.version is not None else None
        keys = entity_class.pr_keys()
        key = {keys[0]: item[keys[0]], keys[1]: item[keys[1]]}
        names: dict[str, str] = {"#pk": keys[0]}
        values: dict[str, Any] = {}
        update = ""
        existing: Optional[Item]
        reads = put_reads(entity_class)
        if not reads:
            update = put_update(entity_class, item, names, values, now, token)
        if reads or len(update) > MAX_EXPRESSION_LENGTH:
            existing, new = self._guarded_write(
                entity_class,
                key,
                replace_step(entity_class, item),
                if_match=if_match,
                now=now,
                token=token,
            )
            stamps = managed.view(new or {})
        else:
            condition = managed.condition(names, values, now=now, if_match=if_match, token=token)
            existing, stamps = self._put_once(
                entity_class, data, key, update, condition, names, values, now, if_match, token
            )
        entity_class.post(http_method="PUT", data=item, existing_item=existing)
        return {**instance.data(), **stamps}

    def _put_once(
        self,
        entity_class: EntityClass,
        data: Item,
        key: Item,
        update: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
        now: float,
        if_match: Optional[int],
        token: Optional[str],
    ) -> tuple[Optional[Item], Item]:
        """The one UpdateItem of a put: the item before it (when asked for) and the version
        and timestamps it left."""
        managed = entity_class._managed
        wants_old = entity_class.hook_overridden("post") or bool(managed.owned)
        try:
            existing = self.client.update_item(
                self.table_name,
                key,
                update=update,
                condition=condition,
                names=names,
                values=values,
                return_values="ALL_OLD" if wants_old else None,
                return_values_on_failure="ALL_OLD" if managed.version is not None else None,
            )
        except ConditionalCheckFailed as exc:
            # Our own earlier attempt, applied with its answer lost: the item is as we wrote it.
            current = self._own_write_or_raise(entity_class, data, exc, now, if_match, token)
            return None, managed.view(current)
        return existing, managed.after_write(existing or {}, now)

    def patch(
        self, *, entity_class: EntityClass, data: Item, if_match: Optional[int] = None
    ) -> Item:
        """Merge ``data`` into the stored entity; NotFound if it does not exist (or has
        expired). The merged entity must satisfy the schema; attributes not in ``data`` are
        left as they are. ``if_match=N`` as for :meth:`put`. Returns the merged data."""
        managed = entity_class._managed
        if_match = managed.check_if_match(if_match, entity_class.__name__)
        key = entity_class.key_for(data)
        data = managed.writable(data)
        self.ensure_table(entity_class)
        now = time.time() if managed.clock else 0.0
        token = new_token() if managed.version is not None else None
        validate_patch = entity_class._validators.patch
        if patch_reads(entity_class, data):
            _, new = self._guarded_write(
                entity_class,
                key,
                merge_step(entity_class, data),
                if_match=if_match,
                now=now,
                token=token,
            )
            merged = new if new is not None else {}
        else:
            assert validate_patch is not None  # patch_reads says so
            validate_patch(data)
            merged = self._update(entity_class, key, data, now, if_match, token)
        entity_class.post(http_method="PATCH", data=data, existing_item=merged)
        return entity_class.strip_keys(merged)

    def delete(
        self, *, entity_class: EntityClass, data: Item, if_match: Optional[int] = None
    ) -> Item:
        """Delete the entity; NotFound if it does not exist (or has expired). ``if_match=N``
        as for :meth:`put`. Returns the deleted data."""
        managed = entity_class._managed
        if_match = managed.check_if_match(if_match, entity_class.__name__)
        key = entity_class.key_for(data)
        self.ensure_table(entity_class)
        now = time.time() if managed.clock else 0.0
        if entity_class.hook_overridden("pre"):
            old, _ = self._guarded_write(
                entity_class, key, delete_step(entity_class), if_match=if_match, now=now
            )
        else:
            names = {"#pk": entity_class.pr_keys()[0]}
            values: dict[str, Any] = {}
            condition = managed.condition(names, values, now=now, if_match=if_match, token=None)
            try:
                deleted = self.client.delete_item(
                    self.table_name,
                    key,
                    condition=condition,
                    names=names,
                    values=values or None,
                    return_values="ALL_OLD",
                    return_values_on_failure="ALL_OLD" if if_match is not None else None,
                )
            except ConditionalCheckFailed as exc:
                if not exc.ambiguous or exc.item is not None:
                    raise self._failure(entity_class, data, exc.item, now, if_match) from None
                # An earlier attempt whose answer was lost deleted it: the delete succeeded,
                # but what it deleted was in that lost answer; only the id is known.
                deleted = {entity_class.ID_ATTRIBUTE: data[entity_class.ID_ATTRIBUTE]}
            old = deleted or {}
        result = entity_class.strip_keys(old)
        entity_class.post(http_method="DELETE", data=result)
        return result

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
        compiled, binding = compile_query(entity_class, where, index, descending)
        check_limit(limit)
        start = (
            None if cursor is None else decode_position(self._cursors, cursor, binding, compiled)
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
        drop = entity_class.drop_keys  # the page's items are ours alone
        next_cursor = None if position is None else self._cursors.encode(position, binding)
        return QueryPage([drop(item) for item in raw], next_cursor)

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

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _describe(entity_class: EntityClass, data: Item) -> str:
        id_attribute = entity_class.ID_ATTRIBUTE
        return f"{entity_class._title} {id_attribute}={data.get(id_attribute)!r}"

    def _failure(
        self,
        entity_class: EntityClass,
        data: Item,
        current: Optional[Item],
        now: float,
        if_match: Optional[int],
    ) -> EntityError:
        """The verb's error for a failed condition, from the item the condition met (None
        when absent, or when it was not asked for)."""
        managed = entity_class._managed
        if current is None or (managed.ttl is not None and is_expired(current, managed.ttl, now)):
            return NotFound(self._describe(entity_class, data))
        if if_match is not None:
            stored = current.get(managed.version or "")
            return PreconditionFailed(
                f"{self._describe(entity_class, data)}: the stored version is {stored!r}, "
                f"not {if_match}",
                current=entity_class.strip_keys(current),
            )
        return NotFound(self._describe(entity_class, data))

    def _own_write_or_raise(
        self,
        entity_class: EntityClass,
        data: Item,
        exc: ConditionalCheckFailed,
        now: float,
        if_match: Optional[int],
        token: Optional[str],
    ) -> Item:
        """The item as this write left it when the failed condition met this very write
        (an earlier attempt applied, its answer lost: the item carries its token); else
        the verb's error."""
        current = exc.item
        if token is not None and current is not None and current.get(WRITE_TOKEN) == token:
            return current
        raise self._failure(entity_class, data, current, now, if_match) from None

    def _update(
        self,
        entity_class: EntityClass,
        key: dict[str, Any],
        data: Item,
        now: float = 0.0,
        if_match: Optional[int] = None,
        token: Optional[str] = None,
    ) -> Item:
        keys = entity_class.pr_keys()
        managed = entity_class._managed
        names = {"#pk": keys[0]}
        values: dict[str, Any] = {}
        changes = {k: v for k, v in data.items() if k != entity_class.ID_ATTRIBUTE}
        if not changes and not managed.stamps and if_match is None:
            # Nothing to change: still NotFound if the entity is absent (or expired).
            current = self.client.get_item(self.table_name, key, consistent=True)
            if current is None or (
                managed.ttl is not None and is_expired(current, managed.ttl, now)
            ):
                raise NotFound(self._describe(entity_class, data))
            return current
        extra = managed.sets(names, values, now, token)
        update = update_expression(changes, (), keys, names, values, extra)
        condition = managed.condition(names, values, now=now, if_match=if_match, token=token)
        try:
            new = self.client.update_item(
                self.table_name,
                key,
                update=update,
                condition=condition,
                names=names,
                values=values,
                return_values="ALL_NEW",
                return_values_on_failure="ALL_OLD" if managed.version is not None else None,
            )
        except ConditionalCheckFailed as exc:
            return self._own_write_or_raise(entity_class, data, exc, now, if_match, token)
        return new or {}

    def _guarded_write(
        self,
        entity_class: EntityClass,
        key: dict[str, Any],
        build: Callable[[Item], Change],
        *,
        if_match: Optional[int] = None,
        now: float = 0.0,
        token: Optional[str] = None,
    ) -> tuple[Item, Optional[Item]]:
        """Read the item, let ``build`` decide (attributes to set and names to remove, or None
        to delete), and write on condition that the item is unchanged since the read; re-read
        and retry after a jittered backoff if it changed. Returns the item read and the item
        as written (None after a delete). An expired item is NotFound; ``if_match`` must be
        the version read; a versioned write sets version + 1, its timestamp and ``token``,
        by which a re-read recognises an attempt that was applied though it seemed to fail."""
        read = {"TableName": self.table_name, "Key": encode_item(key), "ConsistentRead": True}
        keys = entity_class.pr_keys()
        decode = self.client.decode_item
        first: Optional[Item] = None
        for attempt in range(1, GUARDED_WRITE_ATTEMPTS + 1):
            raw = self.client.call("GetItem", read).get("Item")
            if raw is None:
                raise NotFound(f"{entity_class._title} {key}")
            current = decode(raw)
            if first is None:
                first = current
            elif token is not None and current.get(WRITE_TOKEN) == token:
                return first, current  # an earlier attempt was applied, its answer lost
            change = self._checked_change(entity_class, key, current, build, if_match, now, token)
            # The condition compares exact numbers (Decimal), never floats that may have
            # dropped digits the stored value has.
            condition, names, values = _unchanged_since(_decode_exact(raw), entity_class)
            try:
                if change is None:
                    self.client.delete_item(
                        self.table_name, key, condition=condition, names=names, values=values
                    )
                    return current, None
                # An update, not a put: attributes that appear meanwhile and that this write
                # does not own (a TTL, say) survive it.
                attributes, remove = change
                removed = list(remove)
                self.client.update_item(
                    self.table_name,
                    key,
                    update=update_expression(attributes, removed, keys, names, values),
                    condition=condition,
                    names=names,
                    values=values,
                )
                # What the condition let through is exactly the read item, changed so.
                new = {k: v for k, v in current.items() if k not in removed}
                new.update(attributes)
                return current, new
            except ConditionalCheckFailed as exc:
                if change is None and exc.ambiguous:
                    return current, None  # our own earlier attempt deleted it
            if attempt < GUARDED_WRITE_ATTEMPTS:
                self._sleep(guarded_write_delay(attempt, self._jitter))
        raise ConcurrentUpdate(
            f"{entity_class._title} {key} changed under {GUARDED_WRITE_ATTEMPTS} attempts "
            "to read, merge and write it; nothing was overwritten"
        )

    def _checked_change(
        self,
        entity_class: EntityClass,
        key: dict[str, Any],
        current: Item,
        build: Callable[[Item], Change],
        if_match: Optional[int],
        now: float,
        token: Optional[str],
    ) -> Change:
        """What ``build`` makes of the item read, once it is known to be live and at version
        ``if_match``; with the version and timestamps the write leaves."""
        managed = entity_class._managed
        if (managed.ttl is not None and is_expired(current, managed.ttl, now)) or (
            if_match is not None and current.get(managed.version or "") != if_match
        ):
            raise self._failure(entity_class, current, current, now, if_match)
        change = build(current)
        if change is None or not managed.stamps:
            return change
        stamps = managed.after_write(current, now)
        if token is not None:
            stamps[WRITE_TOKEN] = token
        attributes, remove = change
        return {**attributes, **stamps}, remove


def _is_own_write(item: Item, exc: ConditionalCheckFailed) -> bool:
    """Is the stored item that failed a create's condition equal to ``item``, in DynamoDB's
    terms (numbers by value, sets in any order, tuples as lists)?"""
    stored = exc.body.get("Item")
    return isinstance(stored, dict) and canonical_item(encode_item(item)) == canonical_item(stored)
