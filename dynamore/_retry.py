"""How long to wait before another attempt, and when to stop: :class:`RetryPolicy`.

Which failures are worth another attempt is :func:`dynamore._classify.classify`'s answer; the
policy turns it into full-jitter exponential backoff, botocore's "standard" mode (1.44): a
longer base for throttling (1 s) than for transient errors (25 ms, botocore's figure for
DynamoDB), capped at 20 s.
"""

from __future__ import annotations

from dynamore._classify import THROTTLE, TRANSIENT, classify
from dynamore._config import DEFAULT_MAX_ATTEMPTS, positive_count
from dynamore._frozen import Frozen
from dynamore.exceptions import ConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

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


def _random() -> float:
    # random is imported at the first retry, not at import: most Lambda invocations never
    # retry, and the cold start need not pay for it.
    import random

    return random.random()


class RetryPolicy(Frozen):
    """Where a call stands in its attempts; immutable, :meth:`next` gives the next state.

    ``attempt`` is the attempt being made (1 = the first), ``max_attempts`` counts them all.
    ``jitter`` returns a float in [0, 1) (default: :func:`random.random`); inject a constant
    to test without randomness. It is left out of the repr and of equality.

    >>> from dynamore.exceptions import ServiceError
    >>> policy = RetryPolicy(jitter=lambda: 0.5)
    >>> policy, delay = policy.next(ServiceError("ThrottlingException", "", status=400))
    >>> policy.attempt, delay
    (2, 0.5)
    """

    __slots__ = ("max_attempts", "attempt", "throttle_base", "transient_base", "cap", "jitter")
    _hidden = _uncompared = frozenset({"jitter"})

    max_attempts: int
    attempt: int
    throttle_base: float
    transient_base: float
    cap: float
    jitter: Callable[[], float]

    def __init__(
        self,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        attempt: int = 1,
        throttle_base: float = DEFAULT_THROTTLE_BASE,
        transient_base: float = DEFAULT_TRANSIENT_BASE,
        cap: float = DEFAULT_BACKOFF_CAP,
        jitter: Callable[[], float] = _random,
    ) -> None:
        positive_count("max_attempts", max_attempts)
        if attempt < 1:
            raise ConfigurationError(f"attempt counts from 1, not {attempt}")
        if min(throttle_base, transient_base, cap) < 0:
            raise ConfigurationError("backoff bases and cap must not be negative")
        init = object.__setattr__
        init(self, "max_attempts", max_attempts)
        init(self, "attempt", attempt)
        init(self, "throttle_base", throttle_base)
        init(self, "transient_base", transient_base)
        init(self, "cap", cap)
        init(self, "jitter", jitter)

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
        return self.replace(attempt=self.attempt + 1), self.backoff(kind)
