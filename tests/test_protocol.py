"""The request loop (dynamore._protocol) with a scripted transport: CRC checks, error mapping,
retries and their limits, the expired-token refresh. Pure units: no server, no sleeping."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterable
from typing import Any, Union

import pytest

from dynamore._credentials import CredentialProvider, Credentials
from dynamore._protocol import Wire, error_from_response
from dynamore._retry import RetryPolicy
from dynamore._signing import Signer
from dynamore._transports.base import Response
from dynamore.codec import encode_item, item_decoder
from dynamore.exceptions import (
    ChecksumMismatch,
    ConditionalCheckFailed,
    ConnectError,
    ExpiredCredentials,
    ResourceNotFound,
    ServiceError,
    ServiceValidationError,
    ThrottlingError,
    TransactionCanceled,
    TransportError,
    UnexpectedResponse,
    ValidationError,
)

Step = Union[Response, BaseException]


def ok(payload: dict[str, Any], *, crc: bool = True) -> Response:
    body = json.dumps(payload).encode()
    headers = {"x-amzn-requestid": "RID"}
    if crc:
        headers["x-amz-crc32"] = str(zlib.crc32(body))
    return Response(200, headers, body)


def error(code: str, message: str = "boom", status: int = 400, **extra: Any) -> Response:
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra}
    ).encode()
    return Response(
        status, {"x-amzn-requestid": "RID-ERR", "x-amz-crc32": str(zlib.crc32(body))}, body
    )


class ScriptedTransport:
    """Answers each send with the next scripted step and records what was sent."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps = list(steps)
        self.sent: list[tuple[dict[str, str], bytes]] = []

    def send(self, headers: dict[str, str], body: bytes) -> Response:
        self.sent.append((headers, body))
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    def close(self) -> None:
        pass


class CountingProvider(CredentialProvider):
    def __init__(self) -> None:
        self.generation = 0
        super().__init__(self._next, name="test")

    def _next(self) -> Credentials:
        self.generation += 1
        return Credentials("AKID", f"secret-{self.generation}", f"token-{self.generation}")


def make_wire(
    steps: Iterable[Step], attempts: int = 3
) -> tuple[Wire, ScriptedTransport, list[float]]:
    transport = ScriptedTransport(steps)
    sleeps: list[float] = []
    wire = Wire(
        transport=transport,
        signer=Signer("us-east-1", "127.0.0.1:8000"),
        credentials=CountingProvider(),
        retry=RetryPolicy(max_attempts=attempts, jitter=lambda: 0.5),
        sleep=sleeps.append,
        clock=lambda: 1_700_000_000.0,
    )
    return wire, transport, sleeps


def test_success_sends_compact_json_with_the_operation_target() -> None:
    wire, transport, sleeps = make_wire([ok({"Item": {"a": {"S": "x"}}})])
    assert wire.call("GetItem", {"TableName": "t", "Key": {"k": {"S": "ü"}}}) == {
        "Item": {"a": {"S": "x"}}
    }
    headers, body = transport.sent[0]
    assert headers["X-Amz-Target"] == "DynamoDB_20120810.GetItem"
    assert body == '{"TableName":"t","Key":{"k":{"S":"ü"}}}'.encode()
    assert sleeps == []


def test_crc_mismatch_is_retried_then_reported() -> None:
    bad = Response(200, {"x-amz-crc32": "1"}, b'{"Item":{}}')
    wire, transport, sleeps = make_wire([bad, ok({})])
    assert wire.call("GetItem", {}) == {}
    assert len(transport.sent) == 2 and len(sleeps) == 1
    wire, _, _ = make_wire([bad, bad, bad])
    with pytest.raises(ChecksumMismatch) as info:
        wire.call("GetItem", {})
    # A damaged answer is the transport's fault, not an error DynamoDB reported.
    assert isinstance(info.value, TransportError) and not isinstance(info.value, ServiceError)
    assert (info.value.status, info.value.request_id) == (200, None)


def test_missing_crc_header_is_accepted() -> None:
    wire, _, _ = make_wire([ok({"x": 1}, crc=False)])
    assert wire.call("GetItem", {}) == {"x": 1}


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("ConditionalCheckFailedException", 400, ConditionalCheckFailed),
        ("ResourceNotFoundException", 400, ResourceNotFound),
        ("ValidationException", 400, ServiceValidationError),
        ("SomethingNewException", 400, ServiceError),
        ("AccessDeniedException", 400, ServiceError),
    ],
)
def test_non_retryable_errors_are_mapped_and_not_retried(code: str, status: int, cls: type) -> None:
    wire, transport, sleeps = make_wire([error(code, status=status)])
    with pytest.raises(cls) as info:
        wire.call("PutItem", {})
    assert type(info.value) is cls
    assert (info.value.code, info.value.status, info.value.request_id) == (code, status, "RID-ERR")
    assert info.value.message == "boom"
    assert len(transport.sent) == 1 and sleeps == []


def test_throttling_is_retried_with_the_longer_backoff_and_counted() -> None:
    wire, transport, sleeps = make_wire(
        [error("ProvisionedThroughputExceededException"), error("ThrottlingException"), ok({})]
    )
    assert wire.call("PutItem", {}) == {}
    assert sleeps == [0.5 * 1.0, 0.5 * 2.0]  # jitter 0.5 * min(base * 2**n, cap)
    assert (wire.stats.retries, wire.stats.throttles) == (2, 2)


def test_transient_errors_and_connection_failures_are_retried() -> None:
    wire, transport, sleeps = make_wire(
        [error("InternalServerError", status=500), TransportError("reset"), ok({"done": True})]
    )
    assert wire.call("PutItem", {}) == {"done": True}
    assert len(sleeps) == 2 and all(s < 0.1 for s in sleeps)
    assert (wire.stats.retries, wire.stats.throttles) == (2, 0)


def test_retries_run_out_and_the_last_real_error_is_raised() -> None:
    wire, transport, _ = make_wire([error("ThrottlingException")] * 2, attempts=2)
    with pytest.raises(ThrottlingError) as info:
        wire.call("PutItem", {})
    assert info.value.code == "ThrottlingException" and len(transport.sent) == 2


def test_expired_token_refreshes_credentials_and_retries_once() -> None:
    wire, transport, sleeps = make_wire([error("ExpiredTokenException"), ok({})])
    assert wire.call("GetItem", {}) == {}
    first, second = (h["X-Amz-Security-Token"] for h, _ in transport.sent)
    assert (first, second) == ("token-1", "token-2") and sleeps == []
    wire, transport, _ = make_wire([error("ExpiredTokenException")] * 2)
    with pytest.raises(ExpiredCredentials):
        wire.call("GetItem", {})
    assert len(transport.sent) == 2


def test_condition_failure_and_cancellation_carry_decoded_items() -> None:
    ccf = error("ConditionalCheckFailedException", Item={"n": {"N": "1"}, "s": {"SS": ["a"]}})
    with pytest.raises(ConditionalCheckFailed) as info:
        make_wire([ccf])[0].call("PutItem", {})
    assert info.value.item == {"n": 1, "s": {"a"}}
    cancel = error(
        "TransactionCanceledException",
        CancellationReasons=[
            {"Code": "None"},
            {"Code": "ConditionalCheckFailed", "Message": "no", "Item": {"v": {"N": "2.5"}}},
        ],
    )
    with pytest.raises(TransactionCanceled) as tinfo:
        make_wire([cancel])[0].call("TransactWriteItems", {})
    assert tinfo.value.reasons == [
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": "no", "Item": {"v": 2.5}},
    ]


def test_an_answer_that_is_not_dynamodbs_is_a_short_unexpected_response() -> None:
    page = b"<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head>" + b"x" * 5000
    html = {"content-type": "text/html; charset=utf-8", "x-amzn-requestid": "RID-HTML"}
    wire, transport, sleeps = make_wire([Response(404, html, page)])
    with pytest.raises(UnexpectedResponse) as info:
        wire.call("GetItem", {})
    message = str(info.value)
    assert message == (
        "127.0.0.1:8000 answered HTTP 404 with a text/html body of 5066 bytes, request id "
        "RID-HTML: not a DynamoDB response (a wrong endpoint URL, or a proxy's own page?)"
    )
    assert (info.value.status, info.value.request_id) == (404, "RID-HTML")
    assert info.value.content_type == "text/html; charset=utf-8"
    assert len(transport.sent) == 1 and sleeps == []  # a wrong endpoint would answer the same
    # A gateway's 503 page, or a 200 that is not JSON, are worth the usual retries.
    for status in (503, 200):
        wire, transport, _ = make_wire([Response(status, {}, b"<html>busy</html>")] * 3)
        with pytest.raises(UnexpectedResponse, match=f"HTTP {status} with a untyped body"):
            wire.call("GetItem", {})
        assert len(transport.sent) == 3
    err = error_from_response(Response(400, {}, b'{"__type":"X#Y","Message":"capital M"}'))
    assert isinstance(err, ServiceError) and (err.code, err.message) == ("Y", "capital M")
    err = error_from_response(Response(500, {}, b""))  # no body at all: the status says it
    assert isinstance(err, ServiceError) and (err.code, err.status) == ("HTTP500", 500)


def test_lone_surrogates_fail_before_sending() -> None:
    wire, transport, _ = make_wire([])
    with pytest.raises(ValidationError, match="surrogate"):
        wire.call("PutItem", {"Item": {"a": {"S": "\udc00"}}})
    assert transport.sent == []


def test_encode_put_writes_the_item_in_the_request_encoders_own_text() -> None:
    wire, _, _ = make_wire([])
    payload = {"TableName": "T", "ConditionExpression": "attribute_not_exists(PK)"}
    item = {"PK": "é", "n": 1.5, "tags": {"a", "b"}, "m": {"l": [None, True, b"\x00"]}}
    body = wire.encode_put(dict(payload), item)
    assert json.loads(body) == {**payload, "Item": encode_item(item)}
    # Byte for byte what encoding the AttributeValue dicts gives (key order aside).
    assert len(body) == len(wire.encode({**payload, "Item": encode_item(item)}))
    with pytest.raises(ValidationError, match="surrogate"):
        wire.encode_put({"TableName": "T"}, {"PK": "\udc00"})
    with pytest.raises(ValidationError) as bad:
        wire.encode_put({"TableName": "T"}, {"PK": "a", "m": {"x": float("nan")}})
    assert bad.value.path == "m.x"


def test_malformed_answers_become_dynamore_errors_and_are_retried() -> None:
    garbled_crc = Response(200, {"x-amz-crc32": "not-a-number"}, b"{}")
    not_json = Response(200, {}, b"<html>gateway</html>")
    not_object = Response(200, {}, b"[1, 2]")
    wire, transport, _ = make_wire([garbled_crc, not_json, ok({"fine": True})])
    assert wire.call("GetItem", {}) == {"fine": True}
    for bad, cls in (
        (garbled_crc, ChecksumMismatch),
        (not_json, UnexpectedResponse),
        (not_object, UnexpectedResponse),
    ):
        with pytest.raises(cls):
            make_wire([bad] * 3)[0].call("GetItem", {})


def test_a_failed_condition_after_a_possibly_applied_attempt_is_marked_ambiguous() -> None:
    ccf = error("ConditionalCheckFailedException")
    for first, ambiguous in (
        (error("InternalServerError", status=500), True),
        (TransportError("reset after sending"), True),
        (Response(200, {"x-amz-crc32": "1"}, b"{}"), True),  # DynamoDB did answer
        (error("ThrottlingException"), False),
        (ConnectError("connection refused"), False),  # nothing was sent
    ):
        with pytest.raises(ConditionalCheckFailed) as info:
            make_wire([first, ccf])[0].call("DeleteItem", {})
        assert info.value.ambiguous is ambiguous
    resent = ccf._replace(resent=True)  # the transport resent it on a fresh connection
    with pytest.raises(ConditionalCheckFailed) as info:
        make_wire([resent])[0].call("DeleteItem", {})
    assert info.value.ambiguous is True


def test_error_items_go_through_the_clients_decoder() -> None:
    from decimal import Decimal

    ccf = error("ConditionalCheckFailedException", Item={"v": {"N": "0.1234567890123456789"}})
    wire, _, _ = make_wire([ccf])
    wire.decode_item = item_decoder(use_decimal=True)
    with pytest.raises(ConditionalCheckFailed) as info:
        wire.call("PutItem", {})
    assert info.value.item == {"v": Decimal("0.1234567890123456789")}


def test_expired_fixed_credentials_are_not_resent() -> None:
    wire, transport, _ = make_wire([error("ExpiredTokenException")])
    wire.credentials = CredentialProvider.static(Credentials("AKID", "secret", "old-token"))
    with pytest.raises(ExpiredCredentials):
        wire.call("GetItem", {})
    assert len(transport.sent) == 1


# -- debug records ------------------------------------------------------------------------------


def test_retries_and_credential_refreshes_leave_debug_records(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="dynamore")
    wire, _, _ = make_wire(
        [error("ThrottlingException"), error("ExpiredTokenException"), ok({"done": True})]
    )
    assert wire.call("GetItem", {}) == {"done": True}
    messages = [r.getMessage() for r in caplog.records if r.name == "dynamore"]
    assert messages == [
        "GetItem: attempt 1 of 3 failed (throttle: ThrottlingException: boom (HTTP 400, "
        "request id RID-ERR)); retrying in 0.500 s",
        "GetItem: the security token expired; refreshing credentials",
        "credentials from test: refreshed (expiry None)",
    ]
    assert all(r.levelno == logging.DEBUG for r in caplog.records)
    # Each record points at the code that made it, not at the logging helper.
    assert [r.module for r in caplog.records] == ["_protocol", "_protocol", "_credentials"]


def test_a_success_leaves_no_record(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dynamore")
    make_wire([ok({})])[0].call("GetItem", {})
    assert caplog.records == []


def test_records_are_not_formatted_when_debug_is_off(caplog: pytest.LogCaptureFixture) -> None:
    formatted: list[str] = []

    class Loud(TransportError):
        def __str__(self) -> str:
            formatted.append("formatted")
            return "loud"

    caplog.set_level(logging.INFO, logger="dynamore")
    make_wire([Loud(), ok({})])[0].call("GetItem", {})
    assert caplog.records == [] and formatted == []
    caplog.set_level(logging.DEBUG, logger="dynamore")
    make_wire([Loud(), ok({})])[0].call("GetItem", {})
    assert len(caplog.records) == 1 and formatted  # formatted only now
