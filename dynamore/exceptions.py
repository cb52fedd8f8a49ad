"""Every error dynamore raises, in one tree under :class:`DynamoreError`.

::

    DynamoreError
    ├── ValidationError (also ValueError)      bad input, raised before any request is sent
    │   ├── SchemaError                         an Entity's SCHEMA itself is invalid
    │   └── InvalidCursor                       a page cursor that is altered or not this query's
    ├── UnsupportedTypeError (also TypeError)  a value with no DynamoDB form
    ├── ConfigurationError                     no region, no credentials, bad endpoint ...
    ├── TransportError                         the exchange failed and retries ran out
    │   ├── ConnectError                         no connection: nothing was sent
    │   ├── ResponseTimeout                      no complete answer within the read timeout
    │   ├── ChecksumMismatch                     x-amz-crc32 did not match the body
    │   └── UnexpectedResponse                   the endpoint's answer is not DynamoDB's
    ├── ServiceError                           DynamoDB answered with an error (code, status, ...)
    │   ├── ConditionalCheckFailed               .item: the current item when it was asked for
    │   ├── TransactionCanceled                  .reasons: one entry per action
    │   ├── ThrottlingError                      throttled and retries ran out
    │   ├── ResourceNotFound                     no such table or index
    │   ├── ServiceValidationError               DynamoDB's ValidationException
    │   └── ExpiredCredentials                   the token expired (refreshed and retried once)
    ├── BatchIncomplete                        batch retries ran out; .unprocessed: what is left
    ├── BatchNotSettled                        a Step Functions map batch left items unwritten
    └── EntityError                            the REST verbs of DynamoDbProxy
        ├── AlreadyExists                        post of an id that exists
        ├── NotFound                             put/patch/delete of an id that does not exist
        ├── PreconditionFailed                   ``if_match`` was not the stored version (.current),
        │                                        or a ``pre`` hook returned False; nothing written
        ├── ConcurrentUpdate                     the item kept changing under a read-merge-write
        └── TransactionFailed                    DynamoDB cancelled an entity transaction;
                                                 .failures: each failed action and its error

    SchemaWarning (a UserWarning)              an Entity's SCHEMA has keywords JSON Schema ignores

Service errors are built from the ``__type`` suffix of DynamoDB's error body (the code ->
class table, like every error-code table, is in ``dynamore._classify``); an unknown code
becomes a plain :class:`ServiceError` that keeps the code, message, HTTP status and request
id, so nothing is lost.

A :class:`TransportError` other than :class:`ConnectError` may come after the request left, so
the request may have been applied; a :class:`ConnectError` means it was never sent.
"""

from __future__ import annotations

from collections import namedtuple

# typing only for the type checker: importing it cost every Lambda cold start ~4 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple, Optional

__all__ = [
    "ActionFailure",
    "AlreadyExists",
    "BatchIncomplete",
    "ChecksumMismatch",
    "ConcurrentUpdate",
    "ConditionalCheckFailed",
    "ConfigurationError",
    "ConnectError",
    "DynamoreError",
    "EntityError",
    "ExpiredCredentials",
    "InvalidCursor",
    "NotFound",
    "PreconditionFailed",
    "ResourceNotFound",
    "ResponseTimeout",
    "SchemaError",
    "ServiceError",
    "SchemaWarning",
    "ServiceValidationError",
    "ThrottlingError",
    "TransactionCanceled",
    "TransactionFailed",
    "TransportError",
    "UnexpectedResponse",
    "UnsupportedTypeError",
    "ValidationError",
]


class DynamoreError(Exception):
    """Base class of every error raised by dynamore."""


class ValidationError(DynamoreError, ValueError):
    """Input that DynamoDB (or an Entity's schema) cannot accept; nothing was sent.

    ``path`` names the attribute (``"meta.when[2]"``, empty for the whole value) and ``rule``
    the rule that was broken, e.g. ``"at most 38 significant digits"``.

    >>> raise ValidationError("score", "NaN is not a DynamoDB number")
    Traceback (most recent call last):
    ...
    dynamore.exceptions.ValidationError: score: NaN is not a DynamoDB number
    """

    def __init__(self, path: str, rule: str) -> None:
        self.path = path
        self.rule = rule
        super().__init__(f"{path}: {rule}" if path else rule)


class SchemaError(ValidationError):
    """An Entity's ``SCHEMA`` is not a valid JSON Schema (raised at class creation)."""


class UnsupportedTypeError(DynamoreError, TypeError):
    """A Python value whose type has no DynamoDB form (datetime, object, complex ...)."""

    def __init__(self, path: str, value_type: type) -> None:
        self.path = path
        self.value_type = value_type
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{value_type.__name__} has no DynamoDB attribute type")


class ConfigurationError(DynamoreError):
    """The client cannot be set up: no region, no credentials, an unusable endpoint ..."""


class TransportError(DynamoreError):
    """The exchange with DynamoDB failed, and kept failing after every retry.

    Unless it is a :class:`ConnectError`, the request may have reached DynamoDB (and been
    applied) before the failure: a write's outcome is then unknown.
    """


class ConnectError(TransportError):
    """No connection could be opened (refused, unreachable, timed out, TLS handshake failed):
    nothing of the request was sent."""


class ResponseTimeout(TransportError):
    """No complete response arrived within the read timeout."""


class ChecksumMismatch(TransportError):
    """The response body did not match its ``x-amz-crc32`` header: damaged on the way (retried).
    DynamoDB did answer, so the request may have been applied.

    ``status`` and ``request_id`` are those of the damaged response.
    """

    def __init__(self, message: str, *, status: int, request_id: Optional[str] = None) -> None:
        self.status = status
        self.request_id = request_id
        where = f"HTTP {status}, request id {request_id}" if request_id else f"HTTP {status}"
        super().__init__(f"{message} ({where})")


class UnexpectedResponse(TransportError):
    """The endpoint answered, but not as DynamoDB would (an HTML page, a body that is not
    JSON): usually an endpoint URL that points somewhere else, or a proxy's own error page.

    ``status``, ``content_type`` and ``request_id`` describe the answer; its body is not kept.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        content_type: Optional[str] = None,
        request_id: Optional[str] = None,
    ) -> None:
        self.status = status
        self.content_type = content_type
        self.request_id = request_id
        super().__init__(message)


class ServiceError(DynamoreError):
    """DynamoDB answered with an error.

    Attributes: ``code`` (the ``__type`` suffix, e.g. ``"ValidationException"``), ``message``,
    ``status`` (HTTP status) and ``request_id`` (``x-amzn-RequestId``, for AWS support).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 400,
        request_id: Optional[str] = None,
        body: Optional[dict[str, Any]] = None,
    ) -> None:
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.body = body if body is not None else {}
        #: True when an earlier attempt of the same request may have been applied (its answer
        #: was lost or garbled): a failed condition may then be the request meeting itself.
        self.ambiguous = False
        text = f"{code}: {message}" if message else code
        if request_id:
            text += f" (HTTP {status}, request id {request_id})"
        super().__init__(text)


class ConditionalCheckFailed(ServiceError):
    """A condition expression was false. ``item`` is the current item (decoded) when the
    request asked for ``ReturnValuesOnConditionCheckFailure: ALL_OLD`` and one exists."""

    item: Optional[dict[str, Any]] = None


class TransactionCanceled(ServiceError):
    """A transaction was cancelled; ``reasons`` has one dict per action, in request order,
    each with ``Code`` (``"None"`` for actions that were fine), ``Message`` and, for a failed
    condition that asked for it, the decoded ``Item``."""

    reasons: list[dict[str, Any]]

    def __init__(self, code: str, message: str, **kwargs: Any) -> None:
        super().__init__(code, message, **kwargs)
        self.reasons = []


class ThrottlingError(ServiceError):
    """DynamoDB throttled the request (or the account), and retries ran out."""


class ResourceNotFound(ServiceError):
    """The table or index does not exist (or is not active yet)."""


class ServiceValidationError(ServiceError):
    """DynamoDB's own ``ValidationException``: the request broke one of its rules."""


class ExpiredCredentials(ServiceError):
    """The security token has expired; the client refreshes credentials and retries once."""


class BatchIncomplete(DynamoreError):
    """A batch operation gave up with work left; ``unprocessed`` holds every item or key
    that was not written or read, so the caller can retry or record them."""

    def __init__(self, message: str, unprocessed: list[Any]) -> None:
        self.unprocessed = unprocessed
        super().__init__(f"{message}: {len(unprocessed)} left unprocessed")


class BatchNotSettled(DynamoreError):
    """A Distributed Map batch (:func:`dynamore.loader.map_handler`) could not settle every
    item: throttling outlasted the retries, or the invocation ran out of time. The items that
    were written stay written (replaying the batch rewrites them to the same values), so a
    state machine's ``Retry`` on this error name replays the batch without loss or doubling.
    ``.unsettled`` counts the items left."""

    def __init__(self, message: str, unsettled: int) -> None:
        self.unsettled = unsettled
        super().__init__(f"{message}: {unsettled} item(s) not settled")


class EntityError(DynamoreError):
    """Base of the errors of :class:`dynamore.dynamodb_proxy.DynamoDbProxy`'s verbs."""


class AlreadyExists(EntityError):
    """``post`` found an item with the same id; nothing was written."""


class NotFound(EntityError):
    """``put``, ``patch`` or ``delete`` found no item with that id; nothing was written."""


class PreconditionFailed(EntityError):
    """Nothing was written: ``if_match`` named another version than the stored one, or the
    entity's ``pre`` hook returned False.

    ``current`` is the stored entity data (with its version) when a version did not match,
    taken from the failed condition itself; None when a hook refused.
    """

    def __init__(self, message: str, *, current: Optional[dict[str, Any]] = None) -> None:
        self.current = current
        super().__init__(message)


class ConcurrentUpdate(EntityError):
    """A read-merge-write found the item changed by another writer on every attempt; nothing
    was overwritten. Retry later, or re-read and decide."""


if TYPE_CHECKING:

    class _ActionFailure(NamedTuple):
        position: int
        error: DynamoreError

else:
    _ActionFailure = namedtuple("_ActionFailure", ["position", "error"])


class ActionFailure(_ActionFailure):
    """One action of a cancelled transaction: its ``position`` (from 0, in the order the
    actions were added) and ``error``, the error its verb alone would have raised
    (AlreadyExists, NotFound, PreconditionFailed with ``.current``, ConcurrentUpdate when
    another transaction held the item, or the ServiceError DynamoDB gave). A named tuple."""

    __slots__ = ()


class TransactionFailed(EntityError):
    """DynamoDB cancelled an entity transaction: nothing of it was applied.

    ``failures`` lists the actions that caused it (an :class:`ActionFailure` each);
    ``reasons`` is DynamoDB's raw list, one entry per action.
    """

    def __init__(
        self,
        message: str,
        failures: list[ActionFailure],
        reasons: Optional[list[dict[str, Any]]] = None,
    ) -> None:
        self.failures = failures
        self.reasons = reasons if reasons is not None else []
        super().__init__(message)


class SchemaWarning(UserWarning):
    """An Entity's SCHEMA uses a keyword JSON Schema does not know (it would be ignored)."""


class InvalidCursor(ValidationError):
    """A page cursor that was altered, signed with another key, or made for another query
    (entity type, index, ``where`` or direction); nothing was read."""
