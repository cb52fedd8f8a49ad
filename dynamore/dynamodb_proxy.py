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
from dynamore._cursor import CursorCodec
from dynamore._cursor import cursor_key as resolve_cursor_key
from dynamore._keyschema import check_table_keys
from dynamore._query import QueryPage, check_limit, decode_position, query_page
from dynamore._where import CompiledQuery, TableKeys, compile_where, fingerprint
from dynamore.codec import canonical_item, decode_item, encode_item
from dynamore.entity import Entity
from dynamore.exceptions import (
    AlreadyExists,
    ConcurrentUpdate,
    ConditionalCheckFailed,
    NotFound,
    PreconditionFailed,
    ValidationError,
)

if TYPE_CHECKING:  # the loader is imported on first use only
    from dynamore.loader import LoadReport

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

# Update expressions by the shape of the write (its attribute names in order, the names it
# removes, the key names): an entity type writes the same few shapes again and again, and
# building the expression cost about as much as encoding the values. Bounded: past the limit,
# new shapes are built each time.
_MAX_SHAPES = 256
_Plan = tuple[str, dict[str, str], tuple[tuple[str, str], ...]]
_shapes: dict[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], _Plan] = {}
# What a read-merge-write decides from the stored item: the attributes to set and the names
# to remove, or None to delete the item.
Change = Optional[tuple[Item, Iterable[str]]]

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


def _update_expression(
    item: Item,
    remove: Iterable[str],
    keys: list[str],
    names: dict[str, str],
    values: dict[str, Any],
) -> str:
    """``SET`` every attribute of ``item`` but the keys, ``REMOVE`` the names in ``remove``;
    fills ``names`` and ``values`` with the placeholders (``#a``/``:a``, ``#r``)."""
    shape = (tuple(item), tuple(remove), tuple(keys))
    plan = _shapes.get(shape)
    if plan is None:
        plan = _plan_update(*shape)
        if len(_shapes) < _MAX_SHAPES:
            _shapes[shape] = plan
    expression, placeholders, value_names = plan
    names.update(placeholders)
    for placeholder, name in value_names:
        values[placeholder] = item[name]
    return expression


def _plan_update(
    attributes: tuple[str, ...], remove: tuple[str, ...], keys: tuple[str, ...]
) -> _Plan:
    names: dict[str, str] = {}
    value_names = []
    sets = []
    for i, name in enumerate(attributes):
        if name in keys:
            continue
        names[f"#a{i}"] = name
        value_names.append((f":a{i}", name))
        sets.append(f"#a{i} = :a{i}")
    removes = []
    for j, name in enumerate(remove):
        names[f"#r{j}"] = name
        removes.append(f"#r{j}")
    expression = "SET " + ", ".join(sets) if sets else ""
    if removes:
        expression += (" REMOVE " if expression else "REMOVE ") + ", ".join(removes)
    return expression, names, tuple(value_names)


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
        """With the id in ``data``: that item, or None. Without: every item of the type (a
        list, across all pages)."""
        if data and entity_class.ID_ATTRIBUTE in data:
            item = self.client.get_item(self.table_name, entity_class.key_for(data))
            return None if item is None else entity_class.strip_keys(item)
        pk, sk = entity_class.pr_keys()
        prefix = entity_class.SORT_KEY_FORMAT.split("{id}", 1)[0].format(title=entity_class._title)
        condition = "#pk = :pk"
        names = {"#pk": pk}
        values = {":pk": entity_class.partition_value()}
        if prefix:
            condition += " AND begins_with(#sk, :prefix)"
            names["#sk"] = sk
            values[":prefix"] = prefix
        items = self.client.query_all(self.table_name, condition, names=names, values=values)
        return [entity_class.strip_keys(item) for item in items]

    def post(self, *, entity_class: EntityClass, data: Item) -> Item:
        """Create the entity; AlreadyExists if its id is taken. Returns the stored data."""
        entity_class.check_keys_absent(data)
        instance = entity_class(data)
        item = instance.data_with_identity()
        self.ensure_table(entity_class)
        if entity_class.pre(http_method="POST", data=item) is False:
            raise PreconditionFailed(f"{entity_class.__name__}.pre refused POST")
        try:
            self.client.put_item(
                self.table_name,
                item,
                condition="attribute_not_exists(#pk)",
                names={"#pk": entity_class.pr_keys()[0]},
                return_values_on_failure="ALL_OLD",
            )
        except ConditionalCheckFailed as exc:
            if not (exc.ambiguous and _is_own_write(item, exc)):
                raise AlreadyExists(self._describe(entity_class, data)) from None
        entity_class.post(http_method="POST", data=item)
        return instance.data()

    def put(self, *, entity_class: EntityClass, data: Item) -> Item:
        """Replace the entity's own attributes; NotFound if it does not exist. Attributes the
        entity does not own survive (see :meth:`Entity.owns`). Returns the stored data."""
        entity_class.check_keys_absent(data)
        instance = entity_class(data)
        item = instance.data_with_identity()
        self.ensure_table(entity_class)
        keys = entity_class.pr_keys()
        key = {keys[0]: item[keys[0]], keys[1]: item[keys[1]]}
        existing: Optional[Item] = None
        names: dict[str, str] = {"#pk": keys[0]}
        values: dict[str, Any] = {}
        update = ""
        reads = entity_class.hook_overridden("pre") or bool(
            entity_class.SCHEMA.get("patternProperties")
        )
        if not reads:
            properties = entity_class.SCHEMA.get("properties", ())
            gone = [name for name in properties if name not in item]
            # An item that left an index loses that index's keys (sparse index).
            gone += sorted(n for n in entity_class.index_key_names() if n not in item)
            update = _update_expression(item, gone, keys, names, values)
        if reads or len(update) > MAX_EXPRESSION_LENGTH:
            # The stored item is needed: for the pre hook, or to know which stored attributes
            # match the schema's patternProperties (or the expression is too long for one).

            def replace(current: Item) -> Change:
                if entity_class.pre(http_method="PUT", data=item, existing_item=current) is False:
                    raise PreconditionFailed(f"{entity_class.__name__}.pre refused PUT")
                owned = entity_class.owns
                index_keys = entity_class.index_key_names()
                return item, [
                    n
                    for n in current
                    if n not in item and n not in keys and (owned(n) or n in index_keys)
                ]

            existing, _ = self._guarded_write(entity_class, key, replace)
        else:
            wants_old = entity_class.hook_overridden("post")
            try:
                existing = self.client.update_item(
                    self.table_name,
                    key,
                    update=update,
                    condition="attribute_exists(#pk)",
                    names=names,
                    values=values,
                    return_values="ALL_OLD" if wants_old else None,
                )
            except ConditionalCheckFailed:
                raise NotFound(self._describe(entity_class, data)) from None
        entity_class.post(http_method="PUT", data=item, existing_item=existing)
        return instance.data()

    def patch(self, *, entity_class: EntityClass, data: Item) -> Item:
        """Merge ``data`` into the stored entity; NotFound if it does not exist. The merged
        entity must satisfy the schema; attributes not in ``data`` are left as they are.
        Returns the merged data."""
        key = entity_class.key_for(data)
        self.ensure_table(entity_class)
        validate_patch = entity_class._validators.patch
        if (
            validate_patch is None
            or entity_class.hook_overridden("pre")
            or entity_class.hook_overridden("add_dynamic_attributes")
            or _touches_index(entity_class, data)
        ):

            def merge(current: Item) -> Change:
                stored = entity_class.strip_keys(current)
                # Dynamic attributes are recomputed, not validated as data.
                instance = entity_class({**entity_class.own_attributes(stored), **data})
                if entity_class.pre(http_method="PATCH", data=data, existing_item=current) is False:
                    raise PreconditionFailed(f"{entity_class.__name__}.pre refused PATCH")
                # Only what the patch gives and the dynamic attributes are written: the rest
                # is as read (the condition makes sure), and writing it back could round a
                # number to the float it was read as.
                own = instance.attributes
                item = instance.data_with_identity()
                # Index keys are recomputed from the merged item; an index it left loses them.
                stale = [
                    n for n in entity_class.index_key_names() if n in current and n not in item
                ]
                return {k: v for k, v in item.items() if k in data or k not in own}, stale

            _, new = self._guarded_write(entity_class, key, merge)
            merged = new if new is not None else {}
        else:
            validate_patch(data)
            merged = self._update(entity_class, key, data)
        entity_class.post(http_method="PATCH", data=data, existing_item=merged)
        return entity_class.strip_keys(merged)

    def delete(self, *, entity_class: EntityClass, data: Item) -> Item:
        """Delete the entity; NotFound if it does not exist. Returns the deleted data."""
        key = entity_class.key_for(data)
        self.ensure_table(entity_class)
        if entity_class.hook_overridden("pre"):

            def check(current: Item) -> Change:
                if (
                    entity_class.pre(http_method="DELETE", data=entity_class.strip_keys(current))
                    is False
                ):
                    raise PreconditionFailed(f"{entity_class.__name__}.pre refused DELETE")
                return None

            old, _ = self._guarded_write(entity_class, key, check)
        else:
            try:
                deleted = self.client.delete_item(
                    self.table_name,
                    key,
                    condition="attribute_exists(#pk)",
                    names={"#pk": entity_class.pr_keys()[0]},
                    return_values="ALL_OLD",
                )
            except ConditionalCheckFailed as exc:
                if not exc.ambiguous:
                    raise NotFound(self._describe(entity_class, data)) from None
                # An earlier attempt whose answer was lost deleted it: the delete succeeded,
                # but what it deleted was in that lost answer; only the id is known.
                deleted = {entity_class.ID_ATTRIBUTE: data[entity_class.ID_ATTRIBUTE]}
            old = deleted or {}
        result = entity_class.strip_keys(old)
        entity_class.post(http_method="DELETE", data=result)
        return result

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
        compiled, binding = self._compile(entity_class, where, index, descending)
        check_limit(limit)
        start = (
            None if cursor is None else decode_position(self._cursors, cursor, binding, compiled)
        )
        raw, position = query_page(
            self.client, self.table_name, compiled, limit=limit, start=start, forward=not descending
        )
        strip = entity_class.strip_keys
        next_cursor = None if position is None else self._cursors.encode(position, binding)
        return QueryPage([strip(item) for item in raw], next_cursor)

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
        compiled, binding = self._compile(entity_class, where, index, descending)
        check_limit(page_size)
        return self._iter(entity_class, compiled, page_size, not descending)

    def _iter(
        self, entity_class: EntityClass, compiled: CompiledQuery, page_size: int, forward: bool
    ) -> Iterator[Item]:
        start: Optional[Item] = None
        strip = entity_class.strip_keys
        while True:
            raw, position = query_page(
                self.client,
                self.table_name,
                compiled,
                limit=page_size,
                start=start,
                forward=forward,
            )
            for item in raw:
                yield strip(item)
            if position is None:
                return
            start = decode_item(position)

    def _compile(
        self,
        entity_class: EntityClass,
        where: Optional[Mapping[str, Any]],
        index: Optional[str],
        descending: bool,
    ) -> tuple[CompiledQuery, tuple[str, ...]]:
        if not isinstance(descending, bool):
            raise ValidationError("descending", f"must be True or False, not {descending!r}")
        if index is not None and not isinstance(index, str):
            raise ValidationError("index", f"must be an index name or None, not {index!r}")
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
        binding = (title, index or "", fingerprint(where), "desc" if descending else "asc")
        return compiled, binding

    def load(self, entity_class: EntityClass, items: Iterable[Any], **options: Any) -> LoadReport:
        """Bulk-load ``items`` (any iterable, read lazily) into this proxy's table: validate
        each with the entity's compiled validator and write the valid ones concurrently;
        returns a LoadReport. The keyword options are those of :func:`dynamore.loader.load`
        (mode, workers, deadline ...); the table check follows this proxy's ``check_table``."""
        from dynamore.loader import load

        return load(
            self.client,
            self.table_name,
            entity_class,
            items,
            check_table=self.check_table,
            **options,
        )

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _describe(entity_class: EntityClass, data: Item) -> str:
        id_attribute = entity_class.ID_ATTRIBUTE
        return f"{entity_class._title} {id_attribute}={data.get(id_attribute)!r}"

    def _update(self, entity_class: EntityClass, key: dict[str, Any], data: Item) -> Item:
        keys = entity_class.pr_keys()
        names = {"#pk": keys[0]}
        values: dict[str, Any] = {}
        changes = {k: v for k, v in data.items() if k != entity_class.ID_ATTRIBUTE}
        if not changes:  # nothing to change: still NotFound if the entity is absent
            current = self.client.get_item(self.table_name, key, consistent=True)
            if current is None:
                raise NotFound(self._describe(entity_class, data))
            return current
        try:
            new = self.client.update_item(
                self.table_name,
                key,
                update=_update_expression(changes, (), keys, names, values),
                condition="attribute_exists(#pk)",
                names=names,
                values=values,
                return_values="ALL_NEW",
            )
        except ConditionalCheckFailed:
            raise NotFound(self._describe(entity_class, data)) from None
        return new or {}

    def _guarded_write(
        self,
        entity_class: EntityClass,
        key: dict[str, Any],
        build: Callable[[Item], Change],
    ) -> tuple[Item, Optional[Item]]:
        """Read the item, let ``build`` decide (attributes to set and names to remove, or None
        to delete), and write on condition that the item is unchanged since the read; re-read
        and retry after a jittered backoff if it changed. Returns the item read and the item
        as written (None after a delete)."""
        read = {"TableName": self.table_name, "Key": encode_item(key), "ConsistentRead": True}
        keys = entity_class.pr_keys()
        for attempt in range(1, GUARDED_WRITE_ATTEMPTS + 1):
            raw = self.client.call("GetItem", read).get("Item")
            if raw is None:
                raise NotFound(f"{entity_class._title} {key}")
            current = decode_item(raw, use_decimal=self.client.use_decimal)
            change = build(current)
            # The condition compares exact numbers (Decimal), never floats that may have
            # dropped digits the stored value has.
            condition, names, values = _unchanged_since(
                decode_item(raw, use_decimal=True), entity_class
            )
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
                    update=_update_expression(attributes, removed, keys, names, values),
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


def _touches_index(entity_class: EntityClass, data: Item) -> bool:
    """Does a patch change an attribute some index key is built from? Such a patch goes
    through read-merge-write: the index keys depend on the merged item."""
    specs = entity_class.index_specs()
    if not specs:
        return False
    id_attribute = entity_class.ID_ATTRIBUTE
    return any(
        name in data and name != id_attribute for spec in specs.values() for name in spec.attributes
    )


def _is_own_write(item: Item, exc: ConditionalCheckFailed) -> bool:
    """Is the stored item that failed a create's condition equal to ``item``, in DynamoDB's
    terms (numbers by value, sets in any order, tuples as lists)?"""
    stored = exc.body.get("Item")
    return isinstance(stored, dict) and canonical_item(encode_item(item)) == canonical_item(stored)
