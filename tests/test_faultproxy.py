"""The fault proxy itself, driven with the stdlib's http.client (not dynamore's transport), so
the tests that rely on it can trust what it does."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import zlib
from typing import Any

import pytest

from tests.faultproxy import FAULTS, FaultProxy

AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)


def request(
    conn: http.client.HTTPConnection, operation: str, payload: dict[str, Any]
) -> tuple[int, dict[str, str], bytes]:
    conn.request(
        "POST",
        "/",
        body=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "X-Amz-Date": "20240101T000000Z",
            "Authorization": AUTH,
        },
    )
    response = conn.getresponse()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def connect(proxy: FaultProxy, timeout: float = 10) -> http.client.HTTPConnection:
    port = int(proxy.url.rsplit(":", 1)[1])
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def test_forwards_on_kept_alive_connections_and_counts(ddb_endpoint: str) -> None:
    with FaultProxy(ddb_endpoint) as proxy:
        conn = connect(proxy)
        try:
            for _ in range(3):
                status, headers, body = request(conn, "ListTables", {})
                assert status == 200
                assert headers["x-amz-crc32"] == str(zlib.crc32(body))
                assert "TableNames" in json.loads(body)
            status, _, body = request(conn, "DescribeTable", {"TableName": "nope"})
            assert status == 400
        finally:
            conn.close()
        assert proxy.connections == 1
        assert proxy.requests_per_connection == [4]
        assert proxy.forwarded == {"ListTables": 3, "DescribeTable": 1}
        assert proxy.received == proxy.forwarded
        assert "pending=0" in repr(proxy)
    assert repr(proxy) == "<FaultProxy stopped connections=1 pending=0>"


@pytest.mark.parametrize(
    "fault, status, code, message",
    [
        ("status_500", 500, "InternalServerError", "Internal server error"),
        ("status_503", 503, "ServiceUnavailable", "Service unavailable"),
        ("throttle", 400, "ThrottlingException", "Rate exceeded"),
    ],
)
def test_canned_errors_are_not_forwarded(
    ddb_endpoint: str, fault: str, status: int, code: str, message: str
) -> None:
    with FaultProxy(ddb_endpoint) as proxy:
        proxy.inject(fault)
        conn = connect(proxy)
        try:
            got_status, headers, body = request(conn, "ListTables", {})
            assert got_status == status
            assert json.loads(body) == {
                "__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                "message": message,
            }
            assert headers["x-amz-crc32"] == str(zlib.crc32(body))
            assert headers["x-amzn-requestid"].startswith("fault-")
            assert request(conn, "ListTables", {})[0] == 200  # same connection, used up
        finally:
            conn.close()
        assert proxy.forwarded["ListTables"] == 1
        assert proxy.received["ListTables"] == 2


def test_throttle_body_is_exactly_dynamodbs(ddb_endpoint: str) -> None:
    with FaultProxy(ddb_endpoint) as proxy:
        proxy.inject("throttle")
        conn = connect(proxy)
        try:
            assert request(conn, "ListTables", {})[2] == (
                b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException",'
                b'"message":"Rate exceeded"}'
            )
        finally:
            conn.close()


def test_resets_before_and_after_forwarding(ddb_endpoint: str) -> None:
    with FaultProxy(ddb_endpoint) as proxy:
        proxy.inject("reset_before")
        proxy.inject("reset_after")
        for expected_forwarded in (0, 1):
            conn = connect(proxy)
            try:
                with pytest.raises(OSError):
                    request(conn, "ListTables", {})
            finally:
                conn.close()
            assert proxy.forwarded["ListTables"] == expected_forwarded
        assert proxy.connections == 2
        assert proxy.pending == 0


def test_bad_crc_forwards_the_real_body_with_a_wrong_checksum(ddb_endpoint: str) -> None:
    with FaultProxy(ddb_endpoint) as proxy:
        proxy.inject("bad_crc")
        conn = connect(proxy)
        try:
            status, headers, body = request(conn, "ListTables", {})
        finally:
            conn.close()
        assert status == 200 and "TableNames" in json.loads(body)
        assert headers["x-amz-crc32"] != str(zlib.crc32(body))
        assert proxy.forwarded["ListTables"] == 1


def test_stall_holds_the_answer_past_the_client_timeout(ddb_endpoint: str) -> None:
    with FaultProxy(ddb_endpoint, stall_seconds=5) as proxy:
        proxy.inject("stall")
        conn = connect(proxy, timeout=0.3)
        try:
            with pytest.raises(socket.timeout):  # TimeoutError from 3.10 on
                request(conn, "ListTables", {})
        finally:
            conn.close()
        assert proxy.forwarded["ListTables"] == 1
    # stop() did not wait the five seconds out: the stalled thread wakes on stop.


def test_close_idle_answers_then_closes(ddb_endpoint: str) -> None:
    with FaultProxy(ddb_endpoint) as proxy:
        proxy.inject("close_idle")
        conn = connect(proxy)
        try:
            assert request(conn, "ListTables", {})[0] == 200
            assert conn.sock is not None
            assert conn.sock.recv(1) == b""  # EOF: the proxy closed the idle connection
        finally:
            conn.close()


def test_drop_silently_answers_then_goes_dark(ddb_endpoint: str) -> None:
    with FaultProxy(ddb_endpoint) as proxy:
        proxy.inject("drop_silently")
        conn = connect(proxy, timeout=0.3)
        try:
            assert request(conn, "ListTables", {})[0] == 200
            with pytest.raises(socket.timeout):  # neither an answer nor a close
                request(conn, "ListTables", {})
        finally:
            conn.close()
        fresh = connect(proxy)
        try:
            assert request(fresh, "ListTables", {})[0] == 200
        finally:
            fresh.close()
        assert proxy.requests_per_connection == [1, 1]  # the second request was never read
        assert proxy.forwarded["ListTables"] == 2


def test_refused_connections_reach_nothing_until_accepted_again(ddb_endpoint: str) -> None:
    with FaultProxy(ddb_endpoint) as proxy:
        url = proxy.url
        kept = connect(proxy)
        try:
            assert request(kept, "ListTables", {})[0] == 200
            proxy.refuse_connections()
            assert proxy.url == url
            refused = connect(proxy)
            with pytest.raises(ConnectionRefusedError):
                refused.connect()
            refused.close()
            assert request(kept, "ListTables", {})[0] == 200  # open connections still served
            proxy.accept_connections()
            again = connect(proxy)
            try:
                assert request(again, "ListTables", {})[0] == 200
            finally:
                again.close()
        finally:
            kept.close()
        assert proxy.url == url
        assert proxy.requests_per_connection == [2, 1]


def test_faults_match_operations_in_order_and_times(ddb_endpoint: str) -> None:
    with FaultProxy(ddb_endpoint) as proxy:
        proxy.inject("status_500", operation="DescribeTable", times=2)
        proxy.inject("throttle")
        assert proxy.pending == 3
        conn = connect(proxy)
        try:
            assert request(conn, "DescribeTable", {"TableName": "x"})[0] == 500
            assert request(conn, "ListTables", {})[0] == 400  # the any-operation fault
            assert request(conn, "ListTables", {})[0] == 200
            assert proxy.pending == 1
            proxy.clear()
            assert request(conn, "DescribeTable", {"TableName": "x"})[0] == 400  # real answer
        finally:
            conn.close()
        assert proxy.forwarded == {"ListTables": 1, "DescribeTable": 1}
    with pytest.raises(ValueError):
        proxy.inject("explode")
    assert "stall" in FAULTS


def test_rewrite_sees_both_json_bodies_and_fixes_length_and_crc(ddb_endpoint: str) -> None:
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def rewrite(req: dict[str, Any], resp: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        seen.append((req, resp))
        return 400, {"__type": "x#ValidationException", "message": "rewritten " * 20}

    with FaultProxy(ddb_endpoint) as proxy:
        proxy.inject_rewrite(rewrite, operation="ListTables")
        conn = connect(proxy)
        try:
            status, headers, body = request(conn, "ListTables", {"Limit": 5})
            assert status == 400
            assert json.loads(body)["message"].startswith("rewritten")
            assert headers["content-length"] == str(len(body))
            assert headers["x-amz-crc32"] == str(zlib.crc32(body))
            assert request(conn, "ListTables", {})[0] == 200
        finally:
            conn.close()
    assert seen[0][0] == {"Limit": 5}
    assert "TableNames" in seen[0][1]


def test_chunked_upstream_answers_are_passed_on_with_a_length() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    body = b'{"TableNames":["a","b"]}'

    def upstream() -> None:
        sock, _ = listener.accept()
        with sock:
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            sock.sendall(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
            )
            sock.recv(1)  # until the proxy goes away

    thread = threading.Thread(target=upstream)
    thread.start()
    try:
        with FaultProxy(f"http://127.0.0.1:{listener.getsockname()[1]}") as proxy:
            conn = connect(proxy)
            try:
                status, headers, got = request(conn, "ListTables", {})
            finally:
                conn.close()
        assert (status, got) == (200, body)
        assert headers["content-length"] == str(len(body))
        assert "transfer-encoding" not in headers
    finally:
        thread.join(10)
        listener.close()


def test_stop_joins_every_thread(ddb_endpoint: str) -> None:
    before = threading.active_count()
    proxy = FaultProxy(ddb_endpoint, stall_seconds=30).start()
    conns = [connect(proxy, timeout=0.3) for _ in range(3)]
    try:
        for conn in conns:
            request(conn, "ListTables", {})  # three connections, each with its own thread
        proxy.inject("stall")
        with pytest.raises(socket.timeout):  # TimeoutError from 3.10 on
            request(conns[0], "ListTables", {})
    finally:
        for conn in conns:
            conn.close()
        proxy.stop()
    assert threading.active_count() == before
    with pytest.raises(RuntimeError):
        _ = proxy.url
