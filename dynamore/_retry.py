"""How long to wait before another attempt, and when to stop: :class:`RetryPolicy`.

Which failures are worth another attempt is :func:`dynamore._classify.classify`'s answer; the
policy turns it into full-jitter exponential backoff, botocore's "standard" mode (1.44): a
longer base for throttling (1 s) than for transient errors (25 ms, botocore's figure for
DynamoDB), capped at 20 s.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Callable

from dynamore._classify import THROTTLE, TRANSIENT, classify
from dynamore._config import DEFAULT_MAX_ATTEMPTS, positive_count
from dynamore.exceptions import ConfigurationError

__all__ = [
    "DEFAULT_BACKOFF_CAP",
    "DEFAULT_THROTTLE_BASE",
    "DEFAULT_TRANSIENT_BASE",
    "RetryPolicy",
]

#: Backoff bases in seconds (botocore standard mode: 1 s when throttled; 25 ms otherwise for
#: DynamoDB, 50 ms for other services) and the cap on any one delay.
DEFAULT_THROTTLE_BASE = 1.0
DEFAULT_TRANSIENT_BASE = 0.025
DEFAULT_BACKOFF_CAP = 20.0


@dataclass(frozen=True)
class RetryPolicy:
    """Where a call stands in its attempts; immutable, :meth:`next` gives the next state.

    ``attempt`` is the attempt being made (1 = the first), ``max_attempts`` counts them all.
    ``jitter`` returns a float in [0, 1); inject a constant to test without randomness.

    >>> from dynamore.exceptions import ServiceError
    >>> policy = RetryPolicy(jitter=lambda: 0.5)
    >>> policy, delay = policy.next(ServiceError("ThrottlingException", "", status=400))
    >>> policy.attempt, delay
    (2, 0.5)
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    attempt: int = 1
    throttle_base: float = DEFAULT_THROTTLE_BASE
    transient_base: float = DEFAULT_TRANSIENT_BASE
    cap: float = DEFAULT_BACKOFF_CAP
    jitter: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        positive_count("max_attempts", self.max_attempts)
        if self.attempt < 1:
            raise ConfigurationError(f"attempt counts from 1, not {self.attempt}")
        if min(self.throttle_base, self.transient_base, self.cap) < 0:
            raise ConfigurationError("backoff bases and cap must not be negative")

    def backoff(self, kind: str) -> float:
        """Seconds to wait after the current attempt failed with a ``kind`` error."""
        if kind == THROTTLE:
            base = self.throttle_base
        elif kind == TRANSIENT:
            base = self.transient_base
        else:
            raise ValueError(f"kind is {THROTTLE!r} or {TRANSIENT!r}, not {kind!r}")
        # The exponent is clamped: the cap is reached long before, and 2.0 ** 1024 overflows.
        return self.jitter() * min(base * 2.0 ** min(self.attempt - 1, 64), self.cap)

    def next(self, error: BaseException) -> tuple[RetryPolicy, float]:
        """The state for the next attempt and the seconds to sleep before it.

        Raises ``error`` itself (same object, ``__cause__`` kept) when it is not retryable or
        this was the last attempt.
        """
        kind = classify(error)
        if kind is None or self.attempt >= self.max_attempts:
            raise error
        return replace(self, attempt=self.attempt + 1), self.backoff(kind)
