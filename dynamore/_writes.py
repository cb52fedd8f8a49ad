"""The pieces of DynamoDbProxy's writes that a single verb and a transaction share: update
expressions (cached by the shape of the write), the tests that tell when a verb needs the
stored item, and the read-merge-write steps of put, patch and delete."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Optional

from dynamore.entity import Entity
from dynamore.exceptions import PreconditionFailed

__all__ = [
    "Change",
    "delete_step",
    "merge_step",
    "patch_reads",
    "put_reads",
    "put_update",
    "replace_step",
    "touches_index",
    "update_expression",
]

Item = dict[str, Any]
EntityClass = type[Entity]

# Update expressions by the shape of the write (its attribute names in order, the names it
# removes, the key names): an entity type writes the same few shapes again and again, and
# building the expression cost about as much as encoding the values. Bounded: past the limit,
# new shapes are built each time.
_MAX_SHAPES = 256
_Plan = tuple[str, dict[str, str], tuple[tuple[str, str], ...]]
_Shape = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]
_shapes: dict[_Shape, _Plan] = {}
# What a read-merge-write decides from the stored item: the attributes to set and the names
# to remove, or None to delete the item.
Change = Optional[tuple[Item, Iterable[str]]]


def update_expression(
    item: Item,
    remove: Iterable[str],
    keys: list[str],
    names: dict[str, str],
    values: dict[str, Any],
    extra: tuple[str, ...] = (),
) -> str:
    """``SET`` every attribute of ``item`` but the keys (and the clauses in ``extra``, whose
    placeholders the caller fills), ``REMOVE`` the names in ``remove``; fills ``names`` and
    ``values`` with the placeholders (``#a``/``:a``, ``#r``)."""
    shape = (tuple(item), tuple(remove), tuple(keys), extra)
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
    attributes: tuple[str, ...],
    remove: tuple[str, ...],
    keys: tuple[str, ...],
    extra: tuple[str, ...],
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
    sets.extend(extra)
    removes = []
    for j, name in enumerate(remove):
        names[f"#r{j}"] = name
        removes.append(f"#r{j}")
    expression = "SET " + ", ".join(sets) if sets else ""
    if removes:
        expression += (" REMOVE " if expression else "REMOVE ") + ", ".join(removes)
    return expression, names, tuple(value_names)


def touches_index(entity_class: EntityClass, data: Item) -> bool:
    """Does a patch change an attribute some index key is built from? Such a patch goes
    through read-merge-write: the index keys depend on the merged item."""
    specs = entity_class.index_specs()
    if not specs:
        return False
    id_attribute = entity_class.ID_ATTRIBUTE
    return any(
        name in data and name != id_attribute for spec in specs.values() for name in spec.attributes
    )


def put_reads(entity_class: EntityClass) -> bool:
    """Does a put need the stored item: for the pre hook, or to know which stored attributes
    match the schema's patternProperties?"""
    return entity_class.hook_overridden("pre") or bool(entity_class.SCHEMA.get("patternProperties"))


def patch_reads(entity_class: EntityClass, data: Item) -> bool:
    """Does a patch need read-merge-write: rules that tie attributes together, hooks that
    need the stored item, or index keys built from the merged item?"""
    return (
        entity_class._validators.patch is None
        or entity_class.hook_overridden("pre")
        or entity_class.hook_overridden("add_dynamic_attributes")
        or touches_index(entity_class, data)
    )


def put_update(
    entity_class: EntityClass,
    item: Item,
    names: dict[str, str],
    values: dict[str, Any],
    now: float,
    token: Optional[str],
) -> str:
    """A put's update expression: ``SET`` the item (and the version, timestamp, token the
    store keeps), ``REMOVE`` the schema's attributes it lacks and the index keys it left."""
    managed = entity_class._managed
    properties = entity_class.SCHEMA.get("properties", ())
    gone = [name for name in properties if name not in item and name not in managed.owned]
    # An item that left an index loses that index's keys (sparse index).
    gone += sorted(n for n in entity_class.index_key_names() if n not in item)
    extra = managed.sets(names, values, now, token)
    return update_expression(item, gone, entity_class.pr_keys(), names, values, extra)


def replace_step(entity_class: EntityClass, item: Item) -> Callable[[Item], Change]:
    """A put's read-merge-write step: the pre hook sees the stored item; the entity's own
    attributes (and index keys) that ``item`` lacks are removed, the store's kept."""

    def replace(current: Item) -> Change:
        if entity_class.pre(http_method="PUT", data=item, existing_item=current) is False:
            raise PreconditionFailed(f"{entity_class.__name__}.pre refused PUT")
        owned = entity_class.owns
        index_keys = entity_class.index_key_names()
        kept = set(entity_class.pr_keys()) | entity_class._managed.owned
        return item, [
            n for n in current if n not in item and n not in kept and (owned(n) or n in index_keys)
        ]

    return replace


def merge_step(entity_class: EntityClass, data: Item) -> Callable[[Item], Change]:
    """A patch's read-merge-write step: merge, validate the merged entity, run the pre hook."""

    def merge(current: Item) -> Change:
        stored = entity_class._managed.without_owned(entity_class.strip_keys(current))
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
        stale = [n for n in entity_class.index_key_names() if n in current and n not in item]
        return {k: v for k, v in item.items() if k in data or k not in own}, stale

    return merge


def delete_step(entity_class: EntityClass) -> Callable[[Item], Change]:
    """A delete's read step: the pre hook sees the stored data."""

    def check(current: Item) -> Change:
        if entity_class.pre(http_method="DELETE", data=entity_class.strip_keys(current)) is False:
            raise PreconditionFailed(f"{entity_class.__name__}.pre refused DELETE")
        return None

    return check
