"""The retry policy: backoff and exhaustion, without ever sleeping (which failures are worth a
retry: tests/test_classify.py)."""

from __future__ import annotations

from typing import Optional

import pytest

from dynamore._classify import THROTTLE, TRANSIENT
from dynamore._config import DEFAULT_MAX_ATTEMPTS
from dynamore._retry import (
    DEFAULT_BACKOFF_CAP,
    DEFAULT_THROTTLE_BASE,
    DEFAULT_TRANSIENT_BASE,
    RetryPolicy,
)
from dynamore.exceptions import (
    ConditionalCheckFailed,
    ConfigurationError,
    ServiceError,
    ThrottlingError,
    TransportError,
)


def half() -> float:
    return 0.5


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
        state = policy.replace(attempt=attempt)
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
    with pytest.raises(AttributeError, match="frozen"):
        RetryPolicy().attempt = 2  # type: ignore[misc]
