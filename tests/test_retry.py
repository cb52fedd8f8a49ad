"""The retry policy: classification, backoff and exhaustion, without ever sleeping."""

from __future__ import annotations

import dataclasses
from typing import Optional

import pytest

from dynamore._config import DEFAULT_MAX_ATTEMPTS
from dynamore._retry import (
    DEFAULT_BACKOFF_CAP,
    DEFAULT_THROTTLE_BASE,
    DEFAULT_TRANSIENT_BASE,
    THROTTLE,
    THROTTLING_CODES,
    THROTTLING_STATUSES,
    TRANSIENT,
    TRANSIENT_CODES,
    TRANSIENT_STATUSES,
    RetryPolicy,
    classify,
)
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
    service_error,
)

DESIGN_THROTTLING = {
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
}
DESIGN_TRANSIENT = {"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"}


def half() -> float:
    return 0.5


def test_code_sets_are_the_design_lists() -> None:
    assert THROTTLING_CODES == DESIGN_THROTTLING
    assert DESIGN_TRANSIENT | {"ReplicatedWriteConflictException"} == TRANSIENT_CODES
    assert {429} == THROTTLING_STATUSES
    assert {500, 502, 503, 504} == TRANSIENT_STATUSES
    assert isinstance(THROTTLING_CODES, frozenset) and isinstance(TRANSIENT_CODES, frozenset)


@pytest.mark.parametrize("code", sorted(DESIGN_THROTTLING))
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


def test_defaults_follow_botocore_standard_mode() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == DEFAULT_MAX_ATTEMPTS == 3
    assert policy.attempt == 1
    assert (policy.throttle_base, policy.transient_base, policy.cap) == (1.0, 0.025, 20.0)
    assert (DEFAULT_THROTTLE_BASE, DEFAULT_TRANSIENT_BASE, DEFAULT_BACKOFF_CAP) == (
        1.0,
        0.025,
        20.0,
    )


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    policy = RetryPolicy(max_attempts=20, jitter=lambda: 1.0)
    delays: dict[str, list[float]] = {THROTTLE: [], TRANSIENT: []}
    for attempt in range(1, 9):
        state = dataclasses.replace(policy, attempt=attempt)
        for kind in delays:
            delays[kind].append(state.backoff(kind))
    assert delays[THROTTLE] == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0, 20.0]
    assert delays[TRANSIENT] == pytest.approx([0.025 * 2**i for i in range(8)])
    assert RetryPolicy(jitter=lambda: 0.0).backoff(THROTTLE) == 0.0
    assert RetryPolicy(attempt=3, jitter=lambda: 0.25).backoff(THROTTLE) == 1.0
    assert RetryPolicy(attempt=10_000, max_attempts=10_000, jitter=half).backoff(THROTTLE) == 10.0


def test_backoff_of_an_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError):
        RetryPolicy().backoff("sometimes")


def test_next_counts_attempts_and_returns_the_delay() -> None:
    throttled = ThrottlingError("ProvisionedThroughputExceededException", "slow", status=400)
    first = RetryPolicy(max_attempts=3, jitter=half)
    second, delay = first.next(throttled)
    assert (second.attempt, delay) == (2, 0.5)
    third, delay = second.next(TransportError("reset"))
    assert (third.attempt, delay) == (3, 0.5 * 0.025 * 2)
    assert first.attempt == 1  # immutable: the old state is untouched
    assert second == RetryPolicy(max_attempts=3, attempt=2)  # jitter is not compared


def test_exhaustion_raises_the_last_error_itself() -> None:
    policy = RetryPolicy(max_attempts=3, jitter=half)
    error: Optional[ServiceError] = None
    for _ in range(2):
        error = ServiceError("InternalServerError", "", status=500)
        policy, _delay = policy.next(error)
    assert policy.attempt == 3
    last = ServiceError("InternalServerError", "", status=500)
    cause = OSError("the socket said no")
    last.__cause__ = cause
    with pytest.raises(ServiceError) as caught:
        policy.next(last)
    assert caught.value is last
    assert caught.value.__cause__ is cause


def test_one_attempt_means_no_retry() -> None:
    error = TransportError("reset")
    with pytest.raises(TransportError) as caught:
        RetryPolicy(max_attempts=1).next(error)
    assert caught.value is error


def test_non_retryable_errors_are_reraised_unchanged() -> None:
    cause = KeyError("x")
    error = ConditionalCheckFailed("ConditionalCheckFailedException", "no")
    error.__cause__ = cause
    with pytest.raises(ConditionalCheckFailed) as caught:
        RetryPolicy(max_attempts=10).next(error)
    assert caught.value is error and caught.value.__cause__ is cause


def test_jitter_is_drawn_once_per_retry() -> None:
    draws: list[float] = []

    def jitter() -> float:
        draws.append(0.3)
        return 0.3

    policy = RetryPolicy(max_attempts=4, jitter=jitter)
    for _ in range(3):
        policy, _delay = policy.next(TransportError("reset"))
    assert len(draws) == 3


def test_repr_hides_the_jitter_source() -> None:
    assert repr(RetryPolicy()) == (
        "RetryPolicy(max_attempts=3, attempt=1, throttle_base=1.0, transient_base=0.025, cap=20.0)"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": -2},
        {"max_attempts": True},
        {"max_attempts": 2.5},
        {"attempt": 0},
        {"throttle_base": -1.0},
        {"transient_base": -0.1},
        {"cap": -1.0},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RetryPolicy().attempt = 2  # type: ignore[misc]
