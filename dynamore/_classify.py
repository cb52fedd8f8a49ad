"""What a failed exchange means: every error-code table in one place.

Two questions are answered here and nowhere else: which exception class a DynamoDB error code
(the ``__type`` suffix) maps to (:func:`service_error`), and whether a failure is worth another
attempt, and with which backoff (:func:`classify`: ``"throttle"``, ``"transient"`` or None).

The retry rules are botocore's "standard" mode (1.44): throttling and transient error codes,
HTTP 429 and 5xx statuses, DynamoDB's modeled-retryable ReplicatedWriteConflictException,
connection failures, and a response that failed its CRC32 check. tests/test_classify.py holds
these tables against botocore's own retry checkers and names each deliberate difference.
"""

from __future__ import annotations

from dynamore.exceptions import (
    ConditionalCheckFailed,
    ExpiredCredentials,
    ResourceNotFound,
    ServiceError,
    ServiceValidationError,
    ThrottlingError,
    TransactionCanceled,
    TransportError,
    UnexpectedResponse,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = [
    "SERVICE_ERRORS",
    "THROTTLE",
    "THROTTLING_CODES",
    "THROTTLING_STATUSES",
    "TRANSIENT",
    "TRANSIENT_CODES",
    "TRANSIENT_STATUSES",
    "classify",
    "service_error",
]

#: Kinds of retryable failure, as returned by :func:`classify`.
THROTTLE = "throttle"
TRANSIENT = "transient"

#: Error codes that mean "slow down": raised as ThrottlingError, retried with the longer
#: backoff. PriorRequestNotComplete is in both sets; throttling wins, as in botocore.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)

#: Error codes that mean "try again": the generic timeouts, and DynamoDB's
#: ReplicatedWriteConflictException (409), which its service model marks retryable.
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "ReplicatedWriteConflictException",
    }
)

#: HTTP statuses retried whatever the error code.
THROTTLING_STATUSES = frozenset({429})
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})

#: Error code -> the ServiceError subclass raised for it; other codes raise ServiceError.
SERVICE_ERRORS: dict[str, type[ServiceError]] = {
    "ConditionalCheckFailedException": ConditionalCheckFailed,
    "TransactionCanceledException": TransactionCanceled,
    "ResourceNotFoundException": ResourceNotFound,
    "ValidationException": ServiceValidationError,
    "ExpiredTokenException": ExpiredCredentials,
    **{code: ThrottlingError for code in THROTTLING_CODES},
}


def service_error(
    code: str,
    message: str,
    *,
    status: int = 400,
    request_id: Optional[str] = None,
    body: Optional[dict[str, Any]] = None,
) -> ServiceError:
    """The right :class:`ServiceError` subclass for an error code (``__type`` suffix).

    >>> type(service_error("ProvisionedThroughputExceededException", "slow down")).__name__
    'ThrottlingError'
    """
    cls = SERVICE_ERRORS.get(
        code, ThrottlingError if status in THROTTLING_STATUSES else ServiceError
    )
    return cls(code, message, status=status, request_id=request_id, body=body)


def _by_status(status: int) -> Optional[str]:
    if status in THROTTLING_STATUSES:
        return THROTTLE
    if status in TRANSIENT_STATUSES:
        return TRANSIENT
    return None


def classify(error: BaseException) -> Optional[str]:
    """``"throttle"``, ``"transient"`` or None (not worth retrying) for a failed attempt.

    An answer that is not DynamoDB's (:class:`UnexpectedResponse`) goes by its status alone:
    a wrong endpoint's 404 page would only come back again. An expired token is not retried
    here: the client invalidates its credentials and retries once itself.

    >>> classify(ServiceError("ProvisionedThroughputExceededException", "slow down"))
    'throttle'
    >>> classify(ServiceError("ConditionalCheckFailedException", "no")) is None
    True
    """
    if isinstance(error, ServiceError):
        code = error.code
        if code in THROTTLING_CODES:
            return THROTTLE
        if code in TRANSIENT_CODES:
            return TRANSIENT
        return _by_status(error.status)
    if isinstance(error, UnexpectedResponse) and error.status != 200:
        return _by_status(error.status)
    if isinstance(error, TransportError):
        # Connection failures, timeouts, damaged answers (CRC mismatch, a 200 that is not
        # JSON): all worth another attempt.
        return TRANSIENT
    return None
