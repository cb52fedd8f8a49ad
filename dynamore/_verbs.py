"""What the proxy's write verbs decide, written once for :class:`~dynamore.dynamodb_proxy.
DynamoDbProxy` and :class:`~dynamore.dynamodb_proxy.AsyncDynamoDbProxy`: no I/O here.

A verb is a *plan*: a generator that yields each step ``(op, args, kwargs)`` it needs done
(:data:`Step`) and receives its outcome: the result of a client operation is sent back, its
error thrown in at the ``yield``. The proxies drive plans with their own client, the blocking
one with ``client.<op>(...)`` and ``time.sleep``, the asyncio one with
``await client.<op>(...)`` and ``asyncio.sleep`` (:meth:`DynamoDbProxy._run`,
:meth:`AsyncDynamoDbProxy._run`). Two steps are not client operations: :data:`CHECK_TABLE`
(the proxy's table check, yielded only while it is due: the verbs' ``check`` argument) and
:data:`PAUSE` (the backoff between read-merge-write attempts). What needs no I/O at all
(``get`` by id's reading of the item, the post's halves) is plain functions.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator
from typing import Any, Optional, TypeVar

from dynamore._managed import WRITE_TOKEN_ATTRIBUTE as WRITE_TOKEN
from dynamore._managed import is_expired, new_token
from dynamore._protocol import ItemDecoder
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
)

__all__ = [
    "CHECK_TABLE",
    "GUARDED_WRITE_ATTEMPTS",
    "GUARDED_WRITE_BASE",
    "GUARDED_WRITE_CAP",
    "MAX_EXPRESSION_LENGTH",
    "PAUSE",
    "Plan",
    "Step",
    "checked_change",
    "create_condition",
    "delete",
    "describe",
    "failure",
    "guarded_write",
    "guarded_write_delay",
    "live",
    "new_item",
    "patch",
    "post",
    "put",
]

#: Read-merge-write attempts before ConcurrentUpdate.
GUARDED_WRITE_ATTEMPTS = 5
#: Backoff between those attempts, in seconds: full jitter, ``random() * min(base * 2**n, cap)``.
GUARDED_WRITE_BASE = 0.02
GUARDED_WRITE_CAP = 0.5
#: DynamoDB's limit on an expression's length; a longer put is written by read-merge-write.
MAX_EXPRESSION_LENGTH = 4096

#: The step that runs the proxy's table check for ``args[0]`` (an entity class).
CHECK_TABLE = "check_table"
#: The step that waits ``args[0]`` seconds.
PAUSE = "pause"

Item = dict[str, Any]
EntityClass = type[Entity]
_T = TypeVar("_T")


#: One thing a plan needs done: ``(op, args, kwargs)``, the client operation ``op`` (a method
#: name of Client and AsyncClient alike) called with ``args`` and ``kwargs``, or
#: :data:`CHECK_TABLE` or :data:`PAUSE`. A plain tuple: steps are made on the hot path.
Step = tuple[str, tuple[Any, ...], dict[str, Any]]

Plan = Generator[Step, Any, _T]

# Exact numbers (Decimal) where a value goes back to DynamoDB: the guarded write's condition.
_decode_exact = item_decoder(use_decimal=True)
_NO_KWARGS: dict[str, Any] = {}


def guarded_write_delay(attempt: int, jitter: Callable[[], float] = random.random) -> float:
    """Seconds to wait after read-merge-write attempt ``attempt`` (from 1) met a concurrent
    change: full jitter, so that writers who collided spread out instead of colliding again.

    >>> guarded_write_delay(1, lambda: 0.5), guarded_write_delay(3, lambda: 0.5)
    (0.01, 0.04)
    """
    return jitter() * min(GUARDED_WRITE_BASE * 2.0 ** min(attempt - 1, 32), GUARDED_WRITE_CAP)


def live(entity_class: EntityClass, item: Optional[Item]) -> Optional[Item]:
    """What ``get`` by id returns for the stored ``item``: its data, or None when it is absent
    or has expired."""
    ttl = entity_class._managed.ttl
    if item is None or (ttl is not None and is_expired(item, ttl, time.time())):
        return None
    return entity_class.strip_keys(item)


# -- post -----------------------------------------------------------------------------------------


def new_item(entity_class: EntityClass, data: Item) -> tuple[Entity, Item, float]:
    """What ``post`` creates from ``data``: the validated entity, the item (keys, version and
    timestamps) and the time it was stamped with."""
    entity_class.check_keys_absent(data)
    managed = entity_class._managed
    now = time.time() if managed.clock else 0.0
    instance = entity_class(managed.writable(data))
    item = instance.data_with_identity()
    managed.stamp_new(item, now)
    return instance, item, now


def create_condition(
    entity_class: EntityClass, item: Item, now: float
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """After the table check: the pre hook on the new item, then the condition of its create
    and its placeholders."""
    if entity_class.pre(http_method="POST", data=item) is False:
        raise PreconditionFailed(f"{entity_class.__name__}.pre refused POST")
    names = {"#pk": entity_class.pr_keys()[0]}
    values: dict[str, Any] = {}
    condition = entity_class._managed.create_condition(names, values, now)
    return condition, names, values


def post(table: str, entity_class: EntityClass, data: Item, *, check: bool) -> Plan[Item]:
    """``post``: one conditional PutItem; a failed condition that met this very write (its
    earlier attempt applied, the answer lost) is success, anything else AlreadyExists.
    ``check``: the table check is still to be done."""
    instance, item, now = new_item(entity_class, data)
    if check:
        yield (CHECK_TABLE, (entity_class,), _NO_KWARGS)
    condition, names, values = create_condition(entity_class, item, now)
    try:
        yield (
            "put_item",
            (table, item),
            {
                "condition": condition,
                "names": names,
                "values": values or None,
                "return_values_on_failure": "ALL_OLD",
            },
        )
    except ConditionalCheckFailed as exc:
        if not (exc.ambiguous and _is_own_write(item, exc)):
            raise AlreadyExists(describe(entity_class, data)) from None
    entity_class.post(http_method="POST", data=item)
    return {**instance.data(), **entity_class._managed.view(item)}


def _is_own_write(item: Item, exc: ConditionalCheckFailed) -> bool:
    """Is the stored item that failed a create's condition equal to ``item``, in DynamoDB's
    terms (numbers by value, sets in any order, tuples as lists)?"""
    stored = exc.body.get("Item")
    return isinstance(stored, dict) and canonical_item(encode_item(item)) == canonical_item(stored)


# -- put --------------------------------------------------------------------------------------


def put(
    table: str,
    entity_class: EntityClass,
    data: Item,
    if_match: Optional[int],
    *,
    check: bool,
    decode: ItemDecoder,
    jitter: Callable[[], float],
) -> Plan[Item]:
    """``put``: one UpdateItem, or read-merge-write when the pre hook needs the stored item,
    the schema has patternProperties, or the expression would be too long."""
    managed = entity_class._managed
    if_match = managed.check_if_match(if_match, entity_class.__name__)
    entity_class.check_keys_absent(data)
    instance = entity_class(managed.writable(data))
    item = instance.data_with_identity()
    if check:
        yield (CHECK_TABLE, (entity_class,), _NO_KWARGS)
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
        existing, new = yield from guarded_write(
            table,
            entity_class,
            key,
            replace_step(entity_class, item),
            if_match=if_match,
            now=now,
            token=token,
            decode=decode,
            jitter=jitter,
        )
        stamps = managed.view(new or {})
    else:
        condition = managed.condition(names, values, now=now, if_match=if_match, token=token)
        wants_old = entity_class.hook_overridden("post") or bool(managed.owned)
        try:
            existing = yield (
                "update_item",
                (table, key),
                {
                    "update": update,
                    "condition": condition,
                    "names": names,
                    "values": values,
                    "return_values": "ALL_OLD" if wants_old else None,
                    "return_values_on_failure": "ALL_OLD" if managed.version is not None else None,
                },
            )
        except ConditionalCheckFailed as exc:
            # Our own earlier attempt, applied with its answer lost: the item is as we wrote it.
            current = _own_write_or_raise(entity_class, data, exc, now, if_match, token)
            existing, stamps = None, managed.view(current)
        else:
            stamps = managed.after_write(existing or {}, now)
    entity_class.post(http_method="PUT", data=item, existing_item=existing)
    return {**instance.data(), **stamps}


# -- patch ------------------------------------------------------------------------------------


def patch(
    table: str,
    entity_class: EntityClass,
    data: Item,
    if_match: Optional[int],
    *,
    check: bool,
    decode: ItemDecoder,
    jitter: Callable[[], float],
) -> Plan[Item]:
    """``patch``: one UpdateItem when each patched attribute can be validated on its own,
    else read-merge-write (see :func:`dynamore._writes.patch_reads`)."""
    managed = entity_class._managed
    if_match = managed.check_if_match(if_match, entity_class.__name__)
    key = entity_class.key_for(data)
    data = managed.writable(data)
    if check:
        yield (CHECK_TABLE, (entity_class,), _NO_KWARGS)
    now = time.time() if managed.clock else 0.0
    token = new_token() if managed.version is not None else None
    validate_patch = entity_class._validators.patch
    if patch_reads(entity_class, data):
        _, new = yield from guarded_write(
            table,
            entity_class,
            key,
            merge_step(entity_class, data),
            if_match=if_match,
            now=now,
            token=token,
            decode=decode,
            jitter=jitter,
        )
        merged = new if new is not None else {}
    else:
        assert validate_patch is not None  # patch_reads says so
        validate_patch(data)
        merged = yield from _update(table, entity_class, key, data, now, if_match, token)
    entity_class.post(http_method="PATCH", data=data, existing_item=merged)
    return entity_class.strip_keys(merged)


def _update(
    table: str,
    entity_class: EntityClass,
    key: dict[str, Any],
    data: Item,
    now: float,
    if_match: Optional[int],
    token: Optional[str],
) -> Plan[Item]:
    """A patch's one UpdateItem (``SET`` the given attributes); the item it left."""
    keys = entity_class.pr_keys()
    managed = entity_class._managed
    names = {"#pk": keys[0]}
    values: dict[str, Any] = {}
    changes = {k: v for k, v in data.items() if k != entity_class.ID_ATTRIBUTE}
    if not changes and not managed.stamps and if_match is None:
        # Nothing to change: still NotFound if the entity is absent (or expired).
        current = yield ("get_item", (table, key), {"consistent": True})
        if current is None or (managed.ttl is not None and is_expired(current, managed.ttl, now)):
            raise NotFound(describe(entity_class, data))
        return current  # type: ignore[no-any-return]
    extra = managed.sets(names, values, now, token)
    update = update_expression(changes, (), keys, names, values, extra)
    condition = managed.condition(names, values, now=now, if_match=if_match, token=token)
    try:
        new = yield (
            "update_item",
            (table, key),
            {
                "update": update,
                "condition": condition,
                "names": names,
                "values": values,
                "return_values": "ALL_NEW",
                "return_values_on_failure": "ALL_OLD" if managed.version is not None else None,
            },
        )
    except ConditionalCheckFailed as exc:
        return _own_write_or_raise(entity_class, data, exc, now, if_match, token)
    return new or {}


# -- delete -----------------------------------------------------------------------------------


def delete(
    table: str,
    entity_class: EntityClass,
    data: Item,
    if_match: Optional[int],
    *,
    check: bool,
    decode: ItemDecoder,
    jitter: Callable[[], float],
) -> Plan[Item]:
    """``delete``: one conditional DeleteItem returning the old item, or read-then-delete
    when the pre hook needs the stored item."""
    managed = entity_class._managed
    if_match = managed.check_if_match(if_match, entity_class.__name__)
    key = entity_class.key_for(data)
    if check:
        yield (CHECK_TABLE, (entity_class,), _NO_KWARGS)
    now = time.time() if managed.clock else 0.0
    if entity_class.hook_overridden("pre"):
        old, _ = yield from guarded_write(
            table,
            entity_class,
            key,
            delete_step(entity_class),
            if_match=if_match,
            now=now,
            decode=decode,
            jitter=jitter,
        )
    else:
        names = {"#pk": entity_class.pr_keys()[0]}
        values: dict[str, Any] = {}
        condition = managed.condition(names, values, now=now, if_match=if_match, token=None)
        try:
            deleted = yield (
                "delete_item",
                (table, key),
                {
                    "condition": condition,
                    "names": names,
                    "values": values or None,
                    "return_values": "ALL_OLD",
                    "return_values_on_failure": "ALL_OLD" if if_match is not None else None,
                },
            )
        except ConditionalCheckFailed as exc:
            if not exc.ambiguous or exc.item is not None:
                raise failure(entity_class, data, exc.item, now, if_match) from None
            # An earlier attempt whose answer was lost deleted it: the delete succeeded,
            # but what it deleted was in that lost answer; only the id is known.
            deleted = {entity_class.ID_ATTRIBUTE: data[entity_class.ID_ATTRIBUTE]}
        old = deleted or {}
    result = entity_class.strip_keys(old)
    entity_class.post(http_method="DELETE", data=result)
    return result


# -- read-merge-write -------------------------------------------------------------------------


def guarded_write(
    table: str,
    entity_class: EntityClass,
    key: dict[str, Any],
    build: Callable[[Item], Change],
    *,
    if_match: Optional[int] = None,
    now: float = 0.0,
    token: Optional[str] = None,
    decode: ItemDecoder,
    jitter: Callable[[], float],
) -> Plan[tuple[Item, Optional[Item]]]:
    """Read the item, let ``build`` decide (attributes to set and names to remove, or None
    to delete), and write on condition that the item is unchanged since the read; re-read
    and retry after a jittered backoff if it changed. Returns the item read and the item
    as written (None after a delete). An expired item is NotFound; ``if_match`` must be
    the version read; a versioned write sets version + 1, its timestamp and ``token``,
    by which a re-read recognises an attempt that was applied though it seemed to fail."""
    read = {"TableName": table, "Key": encode_item(key), "ConsistentRead": True}
    keys = entity_class.pr_keys()
    first: Optional[Item] = None
    for attempt in range(1, GUARDED_WRITE_ATTEMPTS + 1):
        raw = (yield ("call", ("GetItem", read), _NO_KWARGS)).get("Item")
        if raw is None:
            raise NotFound(f"{entity_class._title} {key}")
        current = decode(raw)
        if first is None:
            first = current
        elif token is not None and current.get(WRITE_TOKEN) == token:
            return first, current  # an earlier attempt was applied, its answer lost
        change = checked_change(entity_class, current, build, if_match, now, token)
        # The condition compares exact numbers (Decimal), never floats that may have
        # dropped digits the stored value has.
        condition, names, values = _unchanged_since(_decode_exact(raw), entity_class)
        guard = {"condition": condition, "names": names, "values": values}
        try:
            if change is None:
                yield ("delete_item", (table, key), guard)
                return current, None
            # An update, not a put: attributes that appear meanwhile and that this write
            # does not own (a TTL, say) survive it.
            attributes, remove = change
            removed = list(remove)
            update = update_expression(attributes, removed, keys, names, values)
            yield ("update_item", (table, key), {"update": update, **guard})
            # What the condition let through is exactly the read item, changed so.
            new = {k: v for k, v in current.items() if k not in removed}
            new.update(attributes)
            return current, new
        except ConditionalCheckFailed as exc:
            if change is None and exc.ambiguous:
                return current, None  # our own earlier attempt deleted it
        if attempt < GUARDED_WRITE_ATTEMPTS:
            yield (PAUSE, (guarded_write_delay(attempt, jitter),), _NO_KWARGS)
    raise ConcurrentUpdate(
        f"{entity_class._title} {key} changed under {GUARDED_WRITE_ATTEMPTS} attempts "
        "to read, merge and write it; nothing was overwritten"
    )


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


def checked_change(
    entity_class: EntityClass,
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
        raise failure(entity_class, current, current, now, if_match)
    change = build(current)
    if change is None or not managed.stamps:
        return change
    stamps = managed.after_write(current, now)
    if token is not None:
        stamps[WRITE_TOKEN] = token
    attributes, remove = change
    return {**attributes, **stamps}, remove


# -- errors -----------------------------------------------------------------------------------


def describe(entity_class: EntityClass, data: Item) -> str:
    """The entity named in an error: its type and id."""
    id_attribute = entity_class.ID_ATTRIBUTE
    return f"{entity_class._title} {id_attribute}={data.get(id_attribute)!r}"


def failure(
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
        return NotFound(describe(entity_class, data))
    if if_match is not None:
        stored = current.get(managed.version or "")
        return PreconditionFailed(
            f"{describe(entity_class, data)}: the stored version is {stored!r}, not {if_match}",
            current=entity_class.strip_keys(current),
        )
    return NotFound(describe(entity_class, data))


def _own_write_or_raise(
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
    raise failure(entity_class, data, current, now, if_match) from None
