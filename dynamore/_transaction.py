"""Entity transactions: the REST verbs of several entities, applied all or nothing.

::

    with db.transaction() as tx:
        tx.post(entity_class=Order, data=order)
        tx.patch(entity_class=Stock, data={"sku": "a", "count": 4}, if_match=7)
        tx.delete(entity_class=Cart, data={"id": "c1"})

Each verb checks everything it can at the call, as the single verb would before sending (the
schema, the keys, ``if_match``, the pre hook), and adds one action; leaving the block sends
them all in one ``TransactWriteItems``, with an idempotency token so that a retry after a lost
answer is not applied twice. An exception inside the block sends nothing. Each action carries
its verb's condition (the id free or taken, the item live, the version ``if_match`` names),
so a cancelled transaction tells, per action, the error the verb alone would have raised:
:class:`~dynamore.exceptions.TransactionFailed` with ``.failures``.

A verb that needs the stored item (a patch with cross-attribute rules, hooks that need it,
index keys to recompute, a put or delete whose pre hook sees it) reads it first, and is taken
only with ``if_match``: the action is then conditioned on that version, so what was validated
is what the transaction changes. Post hooks run after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional

from dynamore._verbs import checked_change, create_condition, describe, failure, new_item
from dynamore._writes import (
    delete_step,
    merge_step,
    patch_reads,
    put_reads,
    put_update,
    replace_step,
    update_expression,
)
from dynamore.exceptions import (
    ActionFailure,
    AlreadyExists,
    ConcurrentUpdate,
    DynamoreError,
    NotFound,
    ServiceError,
    TransactionCanceled,
    TransactionFailed,
    ValidationError,
)

if TYPE_CHECKING:
    from dynamore.dynamodb_proxy import DynamoDbProxy, EntityClass

__all__ = ["MAX_TRANSACTION_ACTIONS", "Transaction"]

#: DynamoDB's limit on the actions of one transaction.
MAX_TRANSACTION_ACTIONS = 100

Item = dict[str, Any]


class _Step:
    """What the commit needs to know of one action: how to name its failure, and its post
    hook."""

    __slots__ = ("after", "data", "entity_class", "if_match", "now", "verb")

    def __init__(
        self,
        verb: str,
        entity_class: EntityClass,
        data: Item,
        now: float,
        if_match: Optional[int],
        after: Callable[[], Any],
    ) -> None:
        self.verb = verb
        self.entity_class = entity_class
        self.data = data
        self.now = now
        self.if_match = if_match
        self.after = after


class Transaction:
    """Entity writes committed together; build it with :meth:`DynamoDbProxy.transaction`.

    ``post``, ``put``, ``patch`` and ``delete`` take the single verbs' arguments; more than
    :data:`MAX_TRANSACTION_ACTIONS` actions, or two on one item, is a ValidationError at the
    call that adds it. :meth:`commit` (called when the ``with`` block ends without an
    exception) sends them; TransactionFailed if DynamoDB cancels the transaction.
    """

    def __init__(self, proxy: DynamoDbProxy) -> None:
        self._proxy = proxy
        self._actions: list[dict[str, Any]] = []
        self._steps: list[_Step] = []
        self._items: set[tuple[Any, ...]] = set()
        self._done = False

    def __enter__(self) -> Transaction:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is not None:
            self._done = True  # nothing sent, and nothing ever will be
            return
        self.commit()

    def __len__(self) -> int:
        return len(self._actions)

    # -- verbs ----------------------------------------------------------------------------------

    def post(self, *, entity_class: EntityClass, data: Item) -> None:
        """Add the creation of an entity (AlreadyExists at commit if its id is taken)."""
        self._open()
        proxy = self._proxy
        _, item, now = new_item(entity_class, data)
        proxy.ensure_table(entity_class)
        condition, names, values = create_condition(entity_class, item, now)
        key = _key_of(entity_class, item)
        self._add(
            entity_class,
            key,
            {
                "Put": {
                    "table": proxy.table_name,
                    "item": item,
                    "condition": condition,
                    "names": names,
                    "values": values or None,
                    "return_values_on_failure": "ALL_OLD",
                }
            },
            _Step(
                "POST",
                entity_class,
                data,
                0.0,
                None,
                lambda: entity_class.post(http_method="POST", data=item),
            ),
        )

    def put(self, *, entity_class: EntityClass, data: Item, if_match: Optional[int] = None) -> None:
        """Add the replacement of an entity's own attributes (see ``DynamoDbProxy.put``)."""

        self._open()
        managed = entity_class._managed
        if_match = managed.check_if_match(if_match, entity_class.__name__)
        entity_class.check_keys_absent(data)
        item = entity_class(managed.writable(data)).data_with_identity()
        proxy = self._proxy
        proxy.ensure_table(entity_class)
        now = _now(entity_class)
        key = _key_of(entity_class, item)
        names: dict[str, str] = {"#pk": entity_class.pr_keys()[0]}
        values: dict[str, Any] = {}
        existing: Optional[Item] = None
        if put_reads(entity_class):
            existing = self._read("PUT", entity_class, key, if_match, now)
            build = replace_step(entity_class, item)
            update, _ = self._changed(
                entity_class, key, existing, build, names, values, if_match, now
            )
        else:
            update = put_update(entity_class, item, names, values, now, None)
        self._update(
            "PUT",
            entity_class,
            data,
            key,
            update,
            names,
            values,
            now,
            if_match,
            lambda: entity_class.post(http_method="PUT", data=item, existing_item=existing),
        )

    def patch(
        self, *, entity_class: EntityClass, data: Item, if_match: Optional[int] = None
    ) -> None:
        """Add a merge into a stored entity (see ``DynamoDbProxy.patch``)."""

        self._open()
        managed = entity_class._managed
        if_match = managed.check_if_match(if_match, entity_class.__name__)
        key = entity_class.key_for(data)
        data = managed.writable(data)
        self._proxy.ensure_table(entity_class)
        now = _now(entity_class)
        names: dict[str, str] = {"#pk": entity_class.pr_keys()[0]}
        values: dict[str, Any] = {}
        merged: Optional[Item] = None
        if patch_reads(entity_class, data):
            current = self._read("PATCH", entity_class, key, if_match, now)
            build = merge_step(entity_class, data)
            update, merged = self._changed(
                entity_class, key, current, build, names, values, if_match, now
            )
        else:
            validate = entity_class._validators.patch
            assert validate is not None  # patch_reads says so
            validate(data)
            changes = {k: v for k, v in data.items() if k != entity_class.ID_ATTRIBUTE}
            extra = managed.sets(names, values, now, None)
            update = update_expression(changes, (), entity_class.pr_keys(), names, values, extra)
        self._update(
            "PATCH",
            entity_class,
            data,
            key,
            update,
            names,
            values,
            now,
            if_match,
            lambda: entity_class.post(http_method="PATCH", data=data, existing_item=merged),
        )

    def delete(
        self, *, entity_class: EntityClass, data: Item, if_match: Optional[int] = None
    ) -> None:
        """Add the deletion of an entity (NotFound at commit if it does not exist)."""

        self._open()
        managed = entity_class._managed
        if_match = managed.check_if_match(if_match, entity_class.__name__)
        key = entity_class.key_for(data)
        proxy = self._proxy
        proxy.ensure_table(entity_class)
        now = _now(entity_class)
        deleted: Item = {entity_class.ID_ATTRIBUTE: data[entity_class.ID_ATTRIBUTE]}
        if entity_class.hook_overridden("pre"):
            current = self._read("DELETE", entity_class, key, if_match, now)
            checked_change(entity_class, current, delete_step(entity_class), if_match, now, None)
            deleted = entity_class.strip_keys(current)
        names: dict[str, str] = {"#pk": entity_class.pr_keys()[0]}
        values: dict[str, Any] = {}
        condition = managed.condition(names, values, now=now, if_match=if_match, token=None)
        self._add(
            entity_class,
            key,
            {
                "Delete": {
                    "table": proxy.table_name,
                    "key": key,
                    "condition": condition,
                    "names": names,
                    "values": values or None,
                    "return_values_on_failure": "ALL_OLD",
                }
            },
            _Step(
                "DELETE",
                entity_class,
                data,
                now,
                if_match,
                lambda: entity_class.post(http_method="DELETE", data=deleted),
            ),
        )

    # -- commit ---------------------------------------------------------------------------------

    def commit(self) -> None:
        """Send every action in one TransactWriteItems (nothing to send: no request), then
        run the post hooks. TransactionFailed, with ``.failures``, if DynamoDB cancels it."""
        self._open()
        self._done = True
        if not self._actions:
            return
        try:
            self._proxy.client.transact_write(self._actions)
        except TransactionCanceled as exc:
            failures = self._failures(exc.reasons)
            summary = ", ".join(f"#{f.position}: {f.error}" for f in failures) or exc.message
            raise TransactionFailed(
                f"the transaction was cancelled, nothing applied ({summary})",
                failures,
                exc.reasons,
            ) from exc
        for step in self._steps:
            step.after()

    def _failures(self, reasons: list[dict[str, Any]]) -> list[ActionFailure]:
        failures = []
        for position, (reason, step) in enumerate(zip(reasons, self._steps)):
            code = reason.get("Code")
            if code in (None, "None"):
                continue
            failures.append(ActionFailure(position, self._error(step, code, reason)))
        return failures

    def _error(self, step: _Step, code: str, reason: dict[str, Any]) -> DynamoreError:
        """The error the verb alone would have raised for this cancellation reason."""
        entity_class, data = step.entity_class, step.data
        named = describe(entity_class, data)
        if code == "ConditionalCheckFailed":
            if step.verb == "POST":
                return AlreadyExists(named)
            return failure(entity_class, data, reason.get("Item"), step.now, step.if_match)
        if code == "TransactionConflict":
            return ConcurrentUpdate(f"{named}: another transaction was changing it")
        return ServiceError(code, str(reason.get("Message") or ""))

    # -- helpers --------------------------------------------------------------------------------

    def _open(self) -> None:
        if self._done:
            raise ValidationError("transaction", "is over (committed or abandoned): start another")

    def _add(
        self, entity_class: EntityClass, key: Item, action: dict[str, Any], step: _Step
    ) -> None:
        identity = (self._proxy.table_name, *sorted(key.items()))
        if identity in self._items:
            raise ValidationError(
                entity_class.ID_ATTRIBUTE,
                f"{entity_class._title} {key} has an action in this transaction already; "
                "DynamoDB takes one per item",
            )
        if len(self._actions) >= MAX_TRANSACTION_ACTIONS:
            raise ValidationError(
                "transaction", f"holds at most {MAX_TRANSACTION_ACTIONS} actions (DynamoDB's limit)"
            )
        self._items.add(identity)
        self._actions.append(action)
        self._steps.append(step)

    def _read(
        self,
        verb: str,
        entity_class: EntityClass,
        key: Item,
        if_match: Optional[int],
        now: float,
    ) -> Item:
        """The stored item a verb needs, read once; only with ``if_match``, so that the
        transaction changes exactly the version that was validated."""
        if if_match is None:
            raise ValidationError(
                "if_match",
                f"{entity_class.__name__} {verb} inside a transaction needs the stored item "
                "(rules across attributes, hooks or index keys): give if_match=<version> so "
                "that it is read at that version and the transaction applies only to it",
            )
        current = self._proxy.client.get_item(self._proxy.table_name, key, consistent=True)
        if current is None:
            raise NotFound(f"{entity_class._title} {key}")
        return current

    def _changed(
        self,
        entity_class: EntityClass,
        key: Item,
        current: Item,
        build: Callable[[Item], Any],
        names: dict[str, str],
        values: dict[str, Any],
        if_match: Optional[int],
        now: float,
    ) -> tuple[str, Item]:
        """The update expression of a verb that read ``current`` (checked live and at
        ``if_match`` first), and the item it leaves."""

        change = checked_change(entity_class, current, build, if_match, now, None)
        assert change is not None  # put and patch builds never delete
        attributes, remove = change
        removed = list(remove)
        new = {k: v for k, v in current.items() if k not in removed}
        new.update(attributes)
        keys = entity_class.pr_keys()
        return update_expression(attributes, removed, keys, names, values), new

    def _update(
        self,
        verb: str,
        entity_class: EntityClass,
        data: Item,
        key: Item,
        update: str,
        names: dict[str, str],
        values: dict[str, Any],
        now: float,
        if_match: Optional[int],
        after: Callable[[], Any],
    ) -> None:
        condition = entity_class._managed.condition(
            names, values, now=now, if_match=if_match, token=None
        )
        table = self._proxy.table_name
        spec: dict[str, Any] = {
            "table": table,
            "key": key,
            "condition": condition,
            "names": names,
            "values": values or None,
            "return_values_on_failure": "ALL_OLD",
        }
        if update:
            spec["update"] = update
            action = {"Update": spec}
        else:  # a patch that changes nothing still needs the item there
            action = {"ConditionCheck": spec}
        self._add(entity_class, key, action, _Step(verb, entity_class, data, now, if_match, after))


def _now(entity_class: EntityClass) -> float:
    import time

    return time.time() if entity_class._managed.clock else 0.0


def _key_of(entity_class: EntityClass, item: Item) -> Item:
    pk, sk = entity_class.pr_keys()
    return {pk: item[pk], sk: item[sk]}
