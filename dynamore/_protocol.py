"""One DynamoDB JSON-protocol exchange: sign, send, check, map errors, retry.

The :class:`Wire` is what every Client operation calls with an operation name and a payload of
wire-form JSON; it returns the decoded response JSON or raises a ``dynamore.exceptions`` error.
It owns no knowledge of the operations themselves.
"""

from __future__ import annotations

import json
import threading
import time

# binascii's crc32 is zlib's, without loading the zlib module (and libz) on the cold path.
from binascii import crc32
from collections.abc import Callable, Mapping

from dynamore._classify import TRANSIENT, classify, service_error
from dynamore._credentials import CredentialProvider
from dynamore._log import debug
from dynamore._retry import RetryPolicy
from dynamore._signing import Signer
from dynamore._transports.base import Response, Transport
from dynamore.codec import AttributeValue, decode_item, encode_item_json
from dynamore.exceptions import (
    ChecksumMismatch,
    ConditionalCheckFailed,
    ConnectError,
    ExpiredCredentials,
    ServiceError,
    TransactionCanceled,
    TransportError,
    UnexpectedResponse,
    ValidationError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, TypeVar, Union

    _W = TypeVar("_W", bound="WireCore")

__all__ = [
    "Attempts",
    "ItemDecoder",
    "Stats",
    "Wire",
    "WireCore",
    "utf8",
    "error_from_response",
    "unexpected_response",
]

#: Wire item -> Python item, with the client's number policy built in (see
#: :func:`dynamore.codec.item_decoder`).
ItemDecoder = Callable[[dict[str, AttributeValue]], "dict[str, Any]"]

# Compact separators: smaller bodies; ensure_ascii=False: UTF-8 text is shorter than \u escapes;
# check_circular=False: payloads come from the codec, which bounds nesting (a quarter less time).
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode
_loads = json.loads
dumps = _dumps  # the one request encoder: the bulk loader builds its bodies with it too


def utf8(text: str) -> bytes:
    """A request's JSON text as its body; a lone surrogate in a string is a ValidationError."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(
            "", "strings must be valid Unicode (a lone surrogate cannot be sent)"
        ) from exc


class Stats:
    """Counters of one client's retries, kept for batch loaders' reports (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.retries = 0
        self.throttles = 0

    def record(self, kind: str) -> None:
        with self._lock:
            self.retries += 1
            if kind == "throttle":
                self.throttles += 1

    def __repr__(self) -> str:
        return f"<Stats retries={self.retries} throttles={self.throttles}>"


def _decode_cancellation_reasons(
    reasons: list[dict[str, Any]], decode: ItemDecoder
) -> list[dict[str, Any]]:
    out = []
    for reason in reasons:
        entry = dict(reason)
        if "Item" in entry:
            entry["Item"] = decode(entry["Item"])
        entry.setdefault("Code", "None")
        out.append(entry)
    return out


def _may_have_applied(error: BaseException) -> bool:
    """Could the failed attempt have been carried out by DynamoDB all the same? Not when no
    connection was made (nothing was sent); otherwise any transport failure (the answer was
    lost, late or damaged) or a 5xx may have followed the write."""
    if isinstance(error, ConnectError):
        return False
    if isinstance(error, TransportError):
        return True
    return isinstance(error, ServiceError) and error.status >= 500


def _json_object(body: bytes) -> Optional[dict[str, Any]]:
    try:
        value = _loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return None
    return value if isinstance(value, dict) else None


def unexpected_response(response: Response, host: str = "the endpoint") -> UnexpectedResponse:
    """The error for an answer DynamoDB would never give (a body that is not a JSON object):
    short, naming the status and content type; the body (an HTML page ...) is left out."""
    content_type = response.headers.get("content-type")
    kind = content_type.split(";", 1)[0].strip()[:60] if content_type else "untyped"
    request_id = response.headers.get("x-amzn-requestid")
    where = f", request id {request_id}" if request_id else ""
    return UnexpectedResponse(
        f"{host} answered HTTP {response.status} with a {kind} body of {len(response.body)} "
        f"bytes{where}: not a DynamoDB response (a wrong endpoint URL, or a proxy's own page?)",
        status=response.status,
        content_type=content_type,
        request_id=request_id,
    )


def error_from_response(
    response: Response, decode: ItemDecoder = decode_item, host: str = "the endpoint"
) -> Union[ServiceError, UnexpectedResponse]:
    """Map a non-200 response to the matching :class:`ServiceError` subclass, or to
    :class:`UnexpectedResponse` when its body is not DynamoDB's JSON (``host`` names the
    endpoint in that message). ``decode`` reads the items an error carries."""
    request_id = response.headers.get("x-amzn-requestid")
    body = _json_object(response.body) if response.body else {}
    if body is None:
        return unexpected_response(response, host)
    raw_type = str(body.get("__type", ""))
    code = raw_type.rsplit("#", 1)[-1] or f"HTTP{response.status}"
    message = str(body.get("message", body.get("Message", "")))
    error = service_error(code, message, status=response.status, request_id=request_id, body=body)
    if isinstance(error, ConditionalCheckFailed) and "Item" in body:
        error.item = decode(body["Item"])
    elif isinstance(error, TransactionCanceled):
        error.reasons = _decode_cancellation_reasons(body.get("CancellationReasons", []), decode)
    return error


class Attempts:
    """One call's way through its attempts, shared by the blocking and the asyncio loops: they
    only sign, send and sleep; this decides what a failed attempt means.

    Built at the first failure only, so a call that succeeds at once pays nothing for it.
    """

    __slots__ = ("ambiguous", "credentials", "operation", "policy", "refreshed", "stats")

    def __init__(self, wire: WireCore, operation: str) -> None:
        self.operation = operation
        self.policy = wire.retry
        self.credentials = wire.credentials
        self.stats = wire.stats
        self.refreshed = False
        # Set once an attempt may have been applied without our hearing of it (a lost or
        # garbled answer, a 5xx): a later failed condition may then be our own earlier write.
        self.ambiguous = False

    def failed(self, error: Union[ServiceError, TransportError], resent: bool) -> Optional[float]:
        """The attempt failed with ``error`` (``resent``: its request went out twice); the
        seconds to wait before the next one, or None when the credentials must be refreshed
        first (the caller calls ``credentials.invalidate`` with the ones it signed with, then
        tries again at once). Raises ``error`` when it is the last word."""
        self.ambiguous = self.ambiguous or resent
        if isinstance(error, ExpiredCredentials):
            if self.refreshed or not self.credentials.refreshable:
                raise error
            self.refreshed = True
            debug("%s: the security token expired; refreshing credentials", self.operation)
            return None
        if isinstance(error, ServiceError):
            error.ambiguous = self.ambiguous
        kind = classify(error)
        self.policy, delay = self.policy.next(error)  # raises when this is the last word
        self.ambiguous = self.ambiguous or _may_have_applied(error)
        self.stats.record(kind or TRANSIENT)
        debug(
            "%s: attempt %d of %d failed (%s: %s); retrying in %.3f s",
            self.operation,
            self.policy.attempt - 1,
            self.policy.max_attempts,
            kind,
            error,
            delay,
        )
        return delay


class WireCore:
    """What the blocking :class:`Wire` and the asyncio wire share: everything but the I/O
    (encoding a payload, checking and reading an answer, the retry state and counters).

    ``decode_item`` reads the items error answers carry (the current item of a failed
    condition, a cancelled transaction's); the client builds it once for its number policy,
    which the wire itself never needs to know.
    """

    transport: Any

    def __init__(
        self,
        *,
        transport: Any,
        signer: Signer,
        credentials: CredentialProvider,
        retry: RetryPolicy,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.time,
        decode_item: ItemDecoder = decode_item,
    ) -> None:
        self.transport = transport
        self.signer = signer
        self.credentials = credentials
        self.retry = retry
        self.stats = Stats()
        self._sleep = sleep
        self._clock = clock
        self.decode_item = decode_item
        #: ``Client(on_request=...)``: called with a RequestRecord after every operation.
        self.on_request: Optional[Callable[[Any], object]] = None

    def _twin(self: _W) -> _W:
        # A shallow copy, as copy.copy makes one (the copy module is not on the cold path).
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def _recording_twin(self, recorder: Any) -> Any:
        """A copy of this wire that sends through ``recorder`` and records nothing itself."""
        twin = self._twin()
        twin.transport = recorder
        twin.on_request = None
        return twin

    def encode(self, payload: dict[str, Any]) -> bytes:
        """The request body for ``payload``; a lone surrogate in a string is a ValidationError."""
        return utf8(_dumps(payload))

    def encode_put(self, payload: dict[str, Any], item: Mapping[str, Any]) -> bytes:
        """The body of ``payload`` with ``"Item"`` added: ``item`` (a Python item) written
        straight to JSON by :func:`~dynamore.codec.encode_item_json`, in one walk, rather
        than built as AttributeValue dicts that the JSON encoder walks again."""
        item_json = encode_item_json(item)
        return utf8(f'{_dumps(payload)[:-1]},"Item":{item_json}}}')

    def parse(self, response: Response) -> dict[str, Any]:
        """The JSON object of a 200 answer; else the error it stands for, raised."""
        crc = response.headers.get("x-amz-crc32")
        if crc is not None and (not crc.isdigit() or crc32(response.body) != int(crc)):
            raise ChecksumMismatch(
                "the response body does not match its x-amz-crc32 header",
                status=response.status,
                request_id=response.headers.get("x-amzn-requestid"),
            )
        if response.status != 200:
            raise error_from_response(response, self.decode_item, self.signer.host_header)
        if not response.body:
            return {}
        try:
            result = _loads(response.body)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            result = None
        if not isinstance(result, dict):
            raise unexpected_response(response, self.signer.host_header)
        return result


class Wire(WireCore):
    """Sends operations to one DynamoDB endpoint, with signing, CRC checks and retries, over a
    blocking :class:`~dynamore._transports.base.Transport`."""

    transport: Transport

    def derive(self, *, sleep: Callable[[float], None], stats: Stats) -> Wire:
        """A wire sharing this one's transport, signer, credentials and retry policy, with its
        own ``sleep`` (e.g. one a bulk load can interrupt) and ``stats``."""
        twin = self._twin()
        twin._sleep = sleep
        twin.stats = stats
        return twin

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send ``operation`` with ``payload`` (wire-form JSON); return the response JSON."""
        return self.send(operation, self.encode(payload))

    def send(self, operation: str, body: bytes) -> dict[str, Any]:
        """Send an already-encoded body, retrying as the policy allows."""
        if self.on_request is not None:
            return self._send_recorded(operation, body)
        attempts: Optional[Attempts] = None
        while True:
            credentials = self.credentials.get()
            headers = self.signer.headers(operation, body, credentials, self._clock())
            resent = False
            try:
                response = self.transport.send(headers, body)
                resent = response.resent
                return self.parse(response)
            except (ServiceError, TransportError) as error:
                if attempts is None:
                    attempts = Attempts(self, operation)
                delay = attempts.failed(error, resent)
                if delay is None:
                    # Naming the stale credentials lets many threads that met the same
                    # expired token share one refresh.
                    self.credentials.invalidate(credentials)
                elif delay > 0:
                    self._sleep(delay)

    def _send_recorded(self, operation: str, body: bytes) -> dict[str, Any]:
        from dynamore._observe import Recorder

        hook = self.on_request
        assert hook is not None
        recorder = Recorder(operation, self.transport)
        try:
            result: dict[str, Any] = self._recording_twin(recorder).send(operation, body)
        except BaseException as exc:
            hook(recorder.record(None, exc))
            raise
        hook(recorder.record(result, None))
        return result

    def close(self) -> None:
        """Close the transport's connections."""
        self.transport.close()
