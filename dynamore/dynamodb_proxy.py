"""``DynamoDbProxy``: REST-like verbs over one DynamoDB table, one atomic request per write.

>>> db = DynamoDbProxy(table_name="MyTable")                       # doctest: +SKIP
>>> db.post(entity_class=Person, data={"id_number": "1", ...})      # doctest: +SKIP

- ``post`` creates (``AlreadyExists`` if the id exists), ``get`` reads one item by id or lists
  every item of the type, ``put`` replaces and ``patch`` merges (``NotFound`` if absent),
  ``delete`` removes and returns the item (``NotFound`` if absent).
- Every write is a single conditional request, so two writers never silently overwrite each
  other. A patch is one ``UpdateItem`` when the schema has no rules that tie attributes
  together (each patched attribute is then validated on its own, which is equivalent); when
  it has such rules, or the entity overrides ``pre`` or ``add_dynamic_attributes`` (which need
  the stored item), the verb reads the item, validates the merged result and writes it on
  condition that the item is unchanged since the read, retrying a few times
  (``ConcurrentUpdate`` if it keeps changing).
- A ``post`` whose response was lost and whose retry meets its own write succeeds (the failed
  condition returns the stored item; equal to what was sent means it was ours).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Optional

from dynamore._client import Client
from dynamore.codec import decode_item, encode_item
from dynamore.entity import Entity
from dynamore.exceptions import (
    AlreadyExists,
    ConcurrentUpdate,
    ConditionalCheckFailed,
    NotFound,
    PreconditionFailed,
)

if TYPE_CHECKING:  # the loader is imported on first use only
    from dynamore._checkpoint import LoadReport

__all__ = [
    "GUARDED_WRITE_ATTEMPTS",
    "AlreadyExists",
    "DynamoDbProxy",
    "NotFound",
    "PreconditionFailed",
    "shared_client",
]

GUARDED_WRITE_ATTEMPTS = 5

Item = dict[str, Any]
EntityClass = type[Entity]

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
    """

    def __init__(self, *, table_name: str, client: Optional[Client] = None) -> None:
        self.table_name = table_name
        self._client = client

    @property
    def client(self) -> Client:
        """The Client this proxy sends through."""
        if self._client is None:
            self._client = shared_client()
        return self._client

    # -- verbs ----------------------------------------------------------------------------------

    def get(self, *, entity_class: EntityClass, data: Optional[Item] = None) -> Optional[Any]:
        """With the id in ``data``: that item, or None. Without: every item of the type (a
        list, across all pages)."""
        if data and entity_class.ID_ATTRIBUTE in data:
            item = self.client.get_item(self.table_name, entity_class.make_identity(data))
            return None if item is None else entity_class.strip_keys(item)
        pk, sk = entity_class.pr_keys()
        title = entity_class._title
        prefix = entity_class.SORT_KEY_FORMAT.split("{id}", 1)[0].format(title=title)
        condition = "#pk = :pk"
        names = {"#pk": pk}
        values = {":pk": title}
        if prefix:
            condition += " AND begins_with(#sk, :prefix)"
            names["#sk"] = sk
            values[":prefix"] = prefix
        items = self.client.query_all(self.table_name, condition, names=names, values=values)
        return [entity_class.strip_keys(item) for item in items]

    def post(self, *, entity_class: EntityClass, data: Item) -> Item:
        """Create the entity; AlreadyExists if its id is taken. Returns the stored data."""
        instance = entity_class(data)
        item = instance.data_with_identity()
        if entity_class.pre("POST", item) is False:
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
            # Equal to what we sent: our own earlier attempt landed and its answer was lost.
            if exc.item != item:
                raise AlreadyExists(self._describe(entity_class, data)) from None
        entity_class.post("POST", item)
        return instance.data()

    def put(self, *, entity_class: EntityClass, data: Item) -> Item:
        """Replace the entity; NotFound if it does not exist. Returns the stored data."""
        instance = entity_class(data)
        item = instance.data_with_identity()
        existing: Optional[Item] = None
        if entity_class.hook_overridden("pre"):

            def replace(current: Item) -> Item:
                if entity_class.pre("PUT", item, entity_class.strip_keys(current)) is False:
                    raise PreconditionFailed(f"{entity_class.__name__}.pre refused PUT")
                return item

            current, _ = self._guarded_write(entity_class, instance.identity(), replace)
            existing = entity_class.strip_keys(current)
        else:
            try:
                self.client.put_item(
                    self.table_name,
                    item,
                    condition="attribute_exists(#pk)",
                    names={"#pk": entity_class.pr_keys()[0]},
                )
            except ConditionalCheckFailed:
                raise NotFound(self._describe(entity_class, data)) from None
        entity_class.post("PUT", item, existing)
        return instance.data()

    def patch(self, *, entity_class: EntityClass, data: Item) -> Item:
        """Merge ``data`` into the stored entity; NotFound if it does not exist. The merged
        entity must satisfy the schema. Returns the merged data."""
        entity_class.check_keys_absent(data)
        key = entity_class.make_identity(data)
        validate_patch = entity_class._validators.patch
        if (
            validate_patch is None
            or entity_class.hook_overridden("pre")
            or entity_class.hook_overridden("add_dynamic_attributes")
        ):

            def merge(current: Item) -> Item:
                stored = entity_class.strip_keys(current)
                # Dynamic attributes are recomputed, not validated as data.
                instance = entity_class({**entity_class.own_attributes(stored), **data})
                if entity_class.pre("PATCH", data, stored) is False:
                    raise PreconditionFailed(f"{entity_class.__name__}.pre refused PATCH")
                return instance.data_with_identity()

            _, new = self._guarded_write(entity_class, key, merge)
            merged = new if new is not None else {}
        else:
            validate_patch(data)
            merged = self._update(entity_class, key, data)
        result = entity_class.strip_keys(merged)
        entity_class.post("PATCH", data, result)
        return result

    def delete(self, *, entity_class: EntityClass, data: Item) -> Item:
        """Delete the entity; NotFound if it does not exist. Returns the deleted data."""
        key = entity_class.make_identity(data)
        if entity_class.hook_overridden("pre"):

            def check(current: Item) -> None:
                if entity_class.pre("DELETE", entity_class.strip_keys(current)) is False:
                    raise PreconditionFailed(f"{entity_class.__name__}.pre refused DELETE")

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
        entity_class.post("DELETE", result)
        return result

    def load(self, entity_class: EntityClass, items: Iterable[Any], **options: Any) -> LoadReport:
        """Bulk-load ``items`` (any iterable, read lazily): validate each with the entity's
        compiled validator and write the valid ones concurrently; returns a LoadReport.
        See :func:`dynamore._loader.load` for the options (mode, workers, deadline ...)."""
        from dynamore._loader import load

        return load(self, entity_class, items, **options)

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _describe(entity_class: EntityClass, data: Item) -> str:
        id_attribute = entity_class.ID_ATTRIBUTE
        return f"{entity_class._title} {id_attribute}={data.get(id_attribute)!r}"

    def _update(self, entity_class: EntityClass, key: dict[str, str], data: Item) -> Item:
        names = {"#pk": entity_class.pr_keys()[0]}
        values: dict[str, Any] = {}
        sets = []
        for i, (name, value) in enumerate(data.items()):
            if name == entity_class.ID_ATTRIBUTE:
                continue
            names[f"#a{i}"] = name
            values[f":a{i}"] = value
            sets.append(f"#a{i} = :a{i}")
        if not sets:  # nothing to change: still NotFound if the entity is absent
            current = self.client.get_item(self.table_name, key, consistent=True)
            if current is None:
                raise NotFound(self._describe(entity_class, data))
            return current
        try:
            new = self.client.update_item(
                self.table_name,
                key,
                update="SET " + ", ".join(sets),
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
        key: dict[str, str],
        build: Callable[[Item], Optional[Item]],
    ) -> tuple[Item, Optional[Item]]:
        """Read the item, let ``build`` decide (the new item, or None to delete), and write on
        condition that the item is unchanged since the read; re-read and retry if it changed."""
        read = {"TableName": self.table_name, "Key": encode_item(key), "ConsistentRead": True}
        for _ in range(GUARDED_WRITE_ATTEMPTS):
            raw = self.client.call("GetItem", read).get("Item")
            if raw is None:
                raise NotFound(f"{entity_class._title} {key}")
            current = decode_item(raw, use_decimal=self.client.use_decimal)
            new = build(current)
            # The condition compares exact numbers (Decimal), never floats that may have
            # dropped digits the stored value has.
            condition, names, values = _unchanged_since(
                decode_item(raw, use_decimal=True), entity_class
            )
            try:
                if new is None:
                    self.client.delete_item(
                        self.table_name, key, condition=condition, names=names, values=values
                    )
                else:
                    self.client.put_item(
                        self.table_name, new, condition=condition, names=names, values=values
                    )
            except ConditionalCheckFailed as exc:
                if new is None and exc.ambiguous:
                    return current, None  # our own earlier attempt deleted it
                continue
            return current, new
        raise ConcurrentUpdate(
            f"{entity_class._title} {key} changed under {GUARDED_WRITE_ATTEMPTS} attempts "
            "to read, merge and write it; nothing was overwritten"
        )
