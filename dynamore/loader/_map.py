"""A Lambda handler for the item batches of a Step Functions Distributed Map.

The state machine (see ``dynamore load-plan``) reads a JSON Lines file from S3, gives every line
its index through an ``ItemSelector`` (``{"index": <line index>, "value": <the line>}``) and
hands batches of them to this handler as ``{"Items": [...], "BatchInput": {...}}``.

What a batch can end as:

- **settled**: every item written or reported. Invalid items (and, in create mode, ids that
  exist with other data) are bad data, not a failure of the run: the handler returns them in
  its result (index and reason, the first ``max_listed``; the counts are always exact) and the
  batch succeeds.
- **not settled**: throttling outlasted the retries, or the invocation is about to run out of
  time. The handler raises :class:`~dynamore.exceptions.BatchNotSettled`; the state machine's
  ``Retry`` on that name replays the batch, and its failure tolerance applies once retries run
  out. Nothing is dropped: a replay writes the same items again. Upserts put the same values;
  create mode treats a stored item equal to the one it would write as its own earlier write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Optional

from dynamore._batch import DEFAULT_BATCH_ATTEMPTS
from dynamore._client import Client
from dynamore.entity import Entity
from dynamore.exceptions import BatchNotSettled, ValidationError
from dynamore.loader._checkpoint import Checkpoint, Reject
from dynamore.loader._load import DEFAULT_DEADLINE_MARGIN_MS, Mode, load

__all__ = ["DEFAULT_MAX_LISTED", "map_handler"]

#: How many rejects a batch result lists (Step Functions caps a state's output at 256 KB).
DEFAULT_MAX_LISTED = 100

Handler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


def _value(element: Any) -> Any:
    if not isinstance(element, Mapping) or "value" not in element or "index" not in element:
        raise ValidationError(
            "", 'not an {"index", "value"} item: the map\'s ItemSelector must attach the index'
        )
    return element["value"]


def _index(reject: Reject) -> Optional[int]:
    source = reject.source
    index = source.get("index") if isinstance(source, Mapping) else None
    return index if isinstance(index, int) and not isinstance(index, bool) else None


def map_handler(
    entity_class: type[Entity],
    table_name: str,
    *,
    mode: Mode = "upsert",
    client: Optional[Client] = None,
    workers: int = 4,
    margin_ms: float = DEFAULT_DEADLINE_MARGIN_MS,
    max_listed: int = DEFAULT_MAX_LISTED,
    batch_attempts: int = DEFAULT_BATCH_ATTEMPTS,
) -> Handler:
    """A Lambda handler that loads Distributed Map item batches of ``entity_class`` into
    ``table_name`` (see the module docstring for what it returns and raises).

    Build it at module level, so the client and its connections live across invocations::

        handler = map_handler(Person, "MyTable")

    ``mode``, ``workers`` and ``batch_attempts`` are :func:`dynamore.loader.load`'s; the batch
    stops taking items when fewer than ``margin_ms`` of the invocation remain. The result
    counts the batch's ``items``, ``written``, ``invalid`` (listed in ``rejects`` with their
    index and reason), ``exists`` (create mode; their ids in ``existing``) and ``skipped``.
    """
    own_client = client if client is not None else Client()

    def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        items = event.get("Items") if isinstance(event, Mapping) else None
        if not isinstance(items, list):
            raise ValidationError("Items", "a Distributed Map batch event carries a list of Items")
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        report = load(
            own_client,
            table_name,
            entity_class,
            items,
            mode=mode,
            workers=workers,
            parse=_value,
            deadline=remaining,
            deadline_margin_ms=margin_ms,
            # A batch may be a replay of one whose answer was lost: like a resumed load, create
            # mode then takes a stored item equal to its own as its earlier write.
            resume=Checkpoint(),
            keep=max_listed,
            batch_attempts=batch_attempts,
        )
        unsettled = report.failed + (len(items) - report.checkpoint.position)
        if unsettled:
            why = "throttled past its retries" if report.failed else "out of time"
            raise BatchNotSettled(f"batch of {len(items)} {why}", unsettled)
        return {
            "items": len(items),
            "written": report.written,
            "invalid": report.rejected,
            "exists": report.already_existing,
            "skipped": report.skipped,
            "rejects": [{"index": _index(r), "reason": r.reason} for r in report.rejects],
            "existing": report.existing,
        }

    return handler
