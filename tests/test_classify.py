"""Which failures are retried, and how (dynamore._classify): the code tables held against
botocore's own standard-mode retry checkers, and the exception class each code maps to."""

from __future__ import annotations

from typing import Any, Callable, Optional

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from botocore.retries import standard
from botocore.session import get_session

from dynamore._classify import (
    SERVICE_ERRORS,
    THROTTLE,
    THROTTLING_CODES,
    THROTTLING_STATUSES,
    TRANSIENT,
    TRANSIENT_CODES,
    TRANSIENT_STATUSES,
    classify,
    service_error,
)
from dynamore._protocol import error_from_response
from dynamore._transports.base import Response
from dynamore.exceptions import (
    AlreadyExists,
    ChecksumMismatch,
    ConditionalCheckFailed,
    ConfigurationError,
    ConnectError,
    ExpiredCredentials,
    ResourceNotFound,
    ResponseTimeout,
    ServiceError,
    ServiceValidationError,
    ThrottlingError,
    TransactionCanceled,
    TransportError,
    UnexpectedResponse,
    ValidationError,
)

# -- the tables against botocore's standard retry mode ------------------------------------------

_MODEL = get_session().get_service_model("dynamodb")
OPERATIONS = ("PutItem", "GetItem", "TransactWriteItems")


def _modeled(code: str, operation: str) -> bool:
    return any(
        code == (shape.metadata.get("error", {}).get("code") or shape.name)
        for shape in _MODEL.operation_model(operation).error_shapes
    )


def botocore_verdict(code: str, status: int, operation: str) -> Optional[str]:
    """What botocore's standard mode does with this answer to ``operation``: None (not
    retried), THROTTLE (retried with the throttling backoff) or TRANSIENT."""
    context = standard.RetryContext(
        attempt_number=1,
        operation_model=_MODEL.operation_model(operation),
        parsed_response={"Error": {"Code": code, "Message": ""}},
        http_response=AWSResponse("https://dynamodb.example", status, {}, None),
    )
    if not standard.StandardRetryConditions(max_attempts=2).is_retryable(context):
        return None
    throttling = standard.ThrottlingErrorDetector(retry_event_adapter=_GivenContext(context))
    if _STATUS_AWARE:
        return THROTTLE if throttling.is_throttling_error_from_context(context) else TRANSIENT
    return THROTTLE if throttling.is_throttling_error() else TRANSIENT


class _GivenContext:
    """The event adapter older botocore's detector asks for a context (Python 3.9 gets a
    botocore from before ``is_throttling_error_from_context``)."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def create_retry_context(self, **_: Any) -> Any:
        return self.context


#: botocore 1.44's detector calls a bare HTTP 429 throttling; older ones did not look at the
#: status (DynamoDB answers 429 only for throttling, so we follow the newer rule).
_STATUS_AWARE = hasattr(standard.ThrottlingErrorDetector, "is_throttling_error_from_context")


def _every_code() -> set[str]:
    # botocore's lists are private; if they move, this test must be looked at, not pass.
    theirs = set(standard.ThrottledRetryableChecker._THROTTLED_ERROR_CODES)
    theirs |= set(standard.TransientRetryableChecker._TRANSIENT_ERROR_CODES)
    assert theirs, "botocore's retry code lists have moved"
    modeled = {
        s.name for op in _MODEL.operation_names for s in _MODEL.operation_model(op).error_shapes
    }
    return (
        theirs
        | modeled
        | THROTTLING_CODES
        | TRANSIENT_CODES
        | {"AccessDeniedException", "ValidationException", "ExpiredTokenException", "SomethingNew"}
    )


def _cases() -> list[tuple[str, int]]:
    """Every code as DynamoDB sends errors (HTTP 400), the codes DynamoDB sends with another
    status at that status, and answers without a code (``HTTP<status>``, as
    error_from_response names them) at every status a gateway might send."""
    cases = [(code, 400) for code in sorted(_every_code())]
    cases += [
        ("ReplicatedWriteConflictException", 409),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
    ]
    for status in (400, 401, 403, 404, 409, 413, 429, 500, 501, 502, 503, 504, 505):
        cases += [(f"HTTP{status}", status), ("SomethingNew", status)]
    return cases


#: Where we part from botocore on purpose, each with its reason. botocore decides some cases
#: by the operation's service model, which dynamore never loads (that is most of botocore's
#: cold start); the tables here are per service instead.
DELIBERATE: dict[str, Callable[[str, int, str, Optional[str], Optional[str]], bool]] = {
    # DynamoDB models it retryable for the writes that can meet it; it cannot come back
    # from any other operation, so retrying it everywhere changes nothing.
    "ReplicatedWriteConflictException is transient whatever the operation": (
        lambda code, status, op, ours, theirs: (
            code == "ReplicatedWriteConflictException"
            and ours == TRANSIENT
            and theirs is None
            and not _modeled(code, op)
        )
    ),
}


if not _STATUS_AWARE:
    DELIBERATE["a bare HTTP 429 is throttling, as botocore >= 1.44 says"] = (
        lambda code, status, op, ours, theirs: (
            status == 429 and ours == THROTTLE and theirs in (TRANSIENT, None)
        )
    )


def test_codes_and_statuses_classify_as_botocore_standard_mode() -> None:
    unexplained = []
    used: set[str] = set()
    for operation in OPERATIONS:
        for code, status in _cases():
            ours = classify(service_error(code, "", status=status))
            theirs = botocore_verdict(code, status, operation)
            if ours == theirs:
                continue
            reasons = [
                name
                for name, applies in DELIBERATE.items()
                if applies(code, status, operation, ours, theirs)
            ]
            if reasons:
                used.update(reasons)
            else:
                unexplained.append((operation, code, status, ours, theirs))
    assert unexplained == []
    assert used == set(DELIBERATE), "a named difference no longer occurs: drop it"


def test_connection_failures_are_transient_for_both() -> None:
    for exc in (ConnectionClosedError(endpoint_url="x"), ReadTimeoutError(endpoint_url="x")):
        context = standard.RetryContext(attempt_number=1, caught_exception=exc)
        assert standard.TransientRetryableChecker().is_retryable(context)
    for ours in (ConnectError("refused"), ResponseTimeout("slow"), TransportError("reset")):
        assert classify(ours) == TRANSIENT


def test_a_checksum_mismatch_is_transient_for_both() -> None:
    context = standard.RetryContext(
        attempt_number=1,
        operation_model=_MODEL.operation_model("GetItem"),
        parsed_response={},
        http_response=AWSResponse("https://dynamodb.example", 200, {"x-amz-crc32": "1"}, None),
    )
    context.http_response._content = b"{}"
    assert standard.StandardRetryConditions(max_attempts=2).is_retryable(context)
    assert classify(ChecksumMismatch("damaged", status=200)) == TRANSIENT


def test_statuses() -> None:
    assert {429} == THROTTLING_STATUSES
    assert {500, 502, 503, 504} == TRANSIENT_STATUSES
    assert isinstance(THROTTLING_CODES, frozenset) and isinstance(TRANSIENT_CODES, frozenset)


# -- classification of our own errors --------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(THROTTLING_CODES))
def test_every_throttling_code_is_a_throttle(code: str) -> None:
    # service_error builds the subclass the client would raise (ThrottlingError for most).
    assert classify(service_error(code, "slow down", status=400)) == THROTTLE


@pytest.mark.parametrize("code", ["RequestTimeout", "RequestTimeoutException"])
def test_transient_codes(code: str) -> None:
    assert classify(service_error(code, "again", status=400)) == TRANSIENT


def test_prior_request_not_complete_counts_as_throttling() -> None:
    # It is in both of botocore's lists; the throttling detector (longer backoff) wins there.
    assert classify(ServiceError("PriorRequestNotComplete", "", status=400)) == THROTTLE


def test_replicated_write_conflict_is_retried() -> None:
    error = ServiceError("ReplicatedWriteConflictException", "conflict", status=409)
    assert classify(error) == TRANSIENT


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_transient_statuses_whatever_the_code(status: int) -> None:
    assert classify(ServiceError("InternalServerError", "oops", status=status)) == TRANSIENT
    assert classify(ServiceError("SomethingNew", "", status=status)) == TRANSIENT


def test_429_is_a_throttle() -> None:
    assert classify(ServiceError("", "", status=429)) == THROTTLE


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 501, 505])
def test_other_statuses_with_unknown_codes_are_not_retried(status: int) -> None:
    assert classify(ServiceError("SomethingNew", "", status=status)) is None


def test_checksum_mismatch_and_transport_errors_are_transient() -> None:
    assert classify(ChecksumMismatch("bad body", status=200)) == TRANSIENT
    assert classify(TransportError("connection reset")) == TRANSIENT
    assert classify(ResponseTimeout("read timed out")) == TRANSIENT
    assert classify(ConnectError("connection refused")) == TRANSIENT


@pytest.mark.parametrize(
    ("status", "kind"), [(200, TRANSIENT), (503, TRANSIENT), (429, THROTTLE), (404, None)]
)
def test_answers_that_are_not_dynamodbs_are_retried_by_status(
    status: int, kind: Optional[str]
) -> None:
    assert classify(UnexpectedResponse("an HTML page", status=status)) == kind


@pytest.mark.parametrize(
    "error",
    [
        ConditionalCheckFailed("ConditionalCheckFailedException", "no"),
        TransactionCanceled("TransactionCanceledException", "no"),
        ResourceNotFound("ResourceNotFoundException", "no table"),
        ServiceValidationError("ValidationException", "bad"),
        ServiceError("AccessDeniedException", "no", status=400),
        ExpiredCredentials("ExpiredTokenException", "expired"),
        ValidationError("a.b", "bad value"),
        ConfigurationError("no region"),
        AlreadyExists("x"),
        ValueError("x"),
        OSError("raw socket errors are the transport's to translate"),
        KeyboardInterrupt(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_everything_else_is_not_retryable(error: BaseException) -> None:
    assert classify(error) is None


# -- which class a code raises ---------------------------------------------------------------


def test_every_throttling_code_raises_throttling_error() -> None:
    for code in THROTTLING_CODES:
        err = service_error(code, "slow down")
        assert isinstance(err, ThrottlingError) and classify(err) == THROTTLE, code
    assert isinstance(error_from_response(Response(429, {}, b"")), ThrottlingError)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("ConditionalCheckFailedException", ConditionalCheckFailed),
        ("TransactionCanceledException", TransactionCanceled),
        ("ResourceNotFoundException", ResourceNotFound),
        ("ValidationException", ServiceValidationError),
        ("ExpiredTokenException", ExpiredCredentials),
        ("AccessDeniedException", ServiceError),
    ],
)
def test_codes_map_to_their_classes(code: str, cls: type[Any]) -> None:
    error = service_error(code, "msg", status=400, request_id="RID", body={"x": 1})
    assert type(error) is cls
    assert (error.code, error.message, error.status, error.request_id, error.body) == (
        code,
        "msg",
        400,
        "RID",
        {"x": 1},
    )
    assert SERVICE_ERRORS.get(code, ServiceError) is cls
