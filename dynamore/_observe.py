"""``Client(on_request=...)``: one :class:`RequestRecord` per operation, for benchmark scripts
and observability.

A client with a hook sends each operation through a :class:`Recorder`, which wraps the
transport for that one call and times every attempt; a client without one never builds any of
it (the cost of the feature is one ``is None`` test per operation). The time to the first byte
of an answer is known only to the transport: a transport that can tell it calls the function
in :data:`TTFB_SINK` when one is set (the native and asyncio transports do).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable

from dynamore._frozen import Frozen
from dynamore._transports.base import Response
from dynamore.exceptions import ServiceError, TransportError, ValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = [
    "CONSUMED_CAPACITY",
    "TTFB_SINK",
    "AsyncRecorder",
    "AttemptRecord",
    "Recorder",
    "RequestHook",
    "RequestRecord",
    "with_consumed_capacity",
]

#: The values of ``return_consumed_capacity=`` (DynamoDB's ``ReturnConsumedCapacity``).
CONSUMED_CAPACITY = frozenset({"TOTAL", "INDEXES", "NONE"})

#: Set by a :class:`Recorder` around each attempt: a transport that knows when the first byte
#: of the answer arrived calls it with the seconds since it began sending.
TTFB_SINK: contextvars.ContextVar[Optional[Callable[[float], None]]] = contextvars.ContextVar(
    "dynamore_ttfb_sink", default=None
)


class AttemptRecord(Frozen):
    """One attempt of an operation: the HTTP ``status`` (None when no answer came), the
    ``error`` it ended with (a class name; None for a 200), bytes of the request and answer
    bodies, seconds to the first answer byte (``ttfb``; None when the transport cannot tell)
    and in all (``total``). Immutable."""

    __slots__ = ("status", "error", "bytes_sent", "bytes_received", "ttfb", "total")

    status: Optional[int]
    error: Optional[str]
    bytes_sent: int
    bytes_received: int
    ttfb: Optional[float]
    total: float

    def __init__(
        self,
        status: Optional[int],
        error: Optional[str],
        bytes_sent: int,
        bytes_received: int,
        ttfb: Optional[float],
        total: float,
    ) -> None:
        init = object.__setattr__
        init(self, "status", status)
        init(self, "error", error)
        init(self, "bytes_sent", bytes_sent)
        init(self, "bytes_received", bytes_received)
        init(self, "ttfb", ttfb)
        init(self, "total", total)


class RequestRecord(Frozen):
    """What one operation did: its name, every attempt, the final HTTP ``status`` and
    ``request_id`` (None when no answer came), body bytes sent and received over all attempts,
    ``consumed_capacity`` (DynamoDB's ``ConsumedCapacity``, when asked for with
    ``return_consumed_capacity=``) and the ``error`` raised, if any. Immutable.

    >>> records = []
    >>> db = Client(on_request=records.append)          # doctest: +SKIP
    >>> db.get_item("T", {"PK": "a", "SK": "b"}, return_consumed_capacity="TOTAL")  # doctest: +SKIP
    >>> records[0].consumed_capacity                    # doctest: +SKIP
    {'TableName': 'T', 'CapacityUnits': 0.5}
    """

    __slots__ = (
        "operation",
        "attempts",
        "status",
        "request_id",
        "bytes_sent",
        "bytes_received",
        "consumed_capacity",
        "error",
    )

    operation: str
    attempts: tuple[AttemptRecord, ...]
    status: Optional[int]
    request_id: Optional[str]
    bytes_sent: int
    bytes_received: int
    consumed_capacity: Any
    error: Optional[BaseException]

    def __init__(
        self,
        operation: str,
        attempts: tuple[AttemptRecord, ...],
        status: Optional[int],
        request_id: Optional[str],
        bytes_sent: int,
        bytes_received: int,
        consumed_capacity: Any,
        error: Optional[BaseException],
    ) -> None:
        init = object.__setattr__
        init(self, "operation", operation)
        init(self, "attempts", attempts)
        init(self, "status", status)
        init(self, "request_id", request_id)
        init(self, "bytes_sent", bytes_sent)
        init(self, "bytes_received", bytes_received)
        init(self, "consumed_capacity", consumed_capacity)
        init(self, "error", error)


#: The type of ``on_request``.
RequestHook = Callable[[RequestRecord], object]


def with_consumed_capacity(payload: dict[str, Any], value: Optional[str]) -> dict[str, Any]:
    """``payload`` asking DynamoDB for its ``ConsumedCapacity`` (``value``: TOTAL, INDEXES or
    NONE); unchanged for None."""
    if value is not None:
        if value not in CONSUMED_CAPACITY:
            raise ValidationError(
                "return_consumed_capacity", f"must be one of {sorted(CONSUMED_CAPACITY)}"
            )
        payload["ReturnConsumedCapacity"] = value
    return payload


class Recorder:
    """Times the attempts of one operation through the transport it wraps, then builds its
    :class:`RequestRecord`. Works for blocking and asyncio transports alike."""

    def __init__(self, operation: str, transport: Any) -> None:
        self.operation = operation
        self.transport = transport
        self.attempts: list[AttemptRecord] = []
        self._last: Optional[Response] = None
        self._ttfb: Optional[float] = None

    def _sink(self, seconds: float) -> None:
        self._ttfb = seconds

    def _note(self, started: float, body: bytes, response: Optional[Response], error: Any) -> None:
        total = time.perf_counter() - started
        if response is not None:
            self._last = response
            status: Optional[int] = response.status
            received = len(response.body)
            name = None if response.status == 200 else f"HTTP{response.status}"
        else:
            status, received, name = None, 0, type(error).__name__
        self.attempts.append(AttemptRecord(status, name, len(body), received, self._ttfb, total))

    def send(self, headers: dict[str, str], body: bytes) -> Response:
        """The wrapped blocking transport's ``send``, timed."""
        self._ttfb = None
        token = TTFB_SINK.set(self._sink)
        started = time.perf_counter()
        try:
            response: Response = self.transport.send(headers, body)
        except BaseException as exc:
            self._note(started, body, None, exc)
            raise
        finally:
            TTFB_SINK.reset(token)
        self._note(started, body, response, None)
        return response

    async def send_async(self, headers: dict[str, str], body: bytes) -> Response:
        """The wrapped asyncio transport's ``send``, timed (:class:`AsyncRecorder`'s
        ``send``)."""
        self._ttfb = None
        token = TTFB_SINK.set(self._sink)
        started = time.perf_counter()
        try:
            response: Response = await self.transport.send(headers, body)
        except BaseException as exc:
            self._note(started, body, None, exc)
            raise
        finally:
            TTFB_SINK.reset(token)
        self._note(started, body, response, None)
        return response

    def close(self) -> None:
        """Nothing to close: the wrapped transport belongs to the client."""

    def record(
        self, result: Optional[dict[str, Any]], error: Optional[BaseException]
    ) -> RequestRecord:
        """The record of the operation, which returned ``result`` or raised ``error``."""
        last = self._last
        if error is not None and self.attempts:
            # The last attempt's own error: a service error is only known once parsed.
            final = self.attempts[-1]
            if isinstance(error, (ServiceError, TransportError)) and final.status is not None:
                code = getattr(error, "code", None) or type(error).__name__
                self.attempts[-1] = AttemptRecord(
                    final.status,
                    code,
                    final.bytes_sent,
                    final.bytes_received,
                    final.ttfb,
                    final.total,
                )
        return RequestRecord(
            operation=self.operation,
            attempts=tuple(self.attempts),
            status=last.status if last is not None else None,
            request_id=last.headers.get("x-amzn-requestid") if last is not None else None,
            bytes_sent=sum(a.bytes_sent for a in self.attempts),
            bytes_received=sum(a.bytes_received for a in self.attempts),
            consumed_capacity=result.get("ConsumedCapacity") if result is not None else None,
            error=error,
        )


class AsyncRecorder(Recorder):
    """A :class:`Recorder` for an asyncio transport: its ``send`` is a coroutine."""

    async def send(self, headers: dict[str, str], body: bytes) -> Response:  # type: ignore[override]
        """The wrapped asyncio transport's ``send``, timed."""
        return await self.send_async(headers, body)
