"""What the transport tests share: DynamoDB requests with a dummy signature, a tiny scripted
HTTP server for the response shapes DynamoDB Local never sends, a clock that moves only when
told to, and throw-away TLS certificates.

DynamoDB Local ignores signature values, so requests here carry a SigV4-shaped Authorization
header with a dummy signature (the signer has its own tests).
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
import zlib
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Optional

import pytest

from dynamore._transports.base import Response
from dynamore.testing import make_certificates

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def headers_for(url: str, operation: str) -> dict[str, str]:
    """Headers as the Client sends them, with a dummy signature (DynamoDB Local checks shape,
    and keys tables by the access key and region in the credential scope)."""
    return {
        "Host": url.split("://", 1)[1].rstrip("/"),
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{operation}",
        "X-Amz-Date": "20240101T000000Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/"
        "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
        "Signature=" + "0" * 64,
    }


def call(transport: Any, url: str, operation: str, payload: dict[str, Any]) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return transport.send(headers_for(url, operation), body)


def list_tables(transport: Any, url: str) -> Response:
    response = call(transport, url, "ListTables", {})
    assert response.status == 200, response
    return response


# -- a tiny scripted server, for response shapes DynamoDB Local does not produce ---------------


class Peer:
    """One accepted connection, as a scripted handler sees it."""

    def __init__(self, sock: socket.socket, record: Callable[[bytes], None]) -> None:
        self.sock = sock
        self.buf = b""
        self._record = record

    def read_request(self) -> Optional[bytes]:
        """One whole request (Content-Length body), or None when the client closed."""
        while b"\r\n\r\n" not in self.buf:
            more = self.sock.recv(65536)
            if not more:
                return None
            self.buf += more
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            more = self.sock.recv(65536)
            if not more:
                return None
            rest += more
        self.buf = rest[length:]
        request = head + b"\r\n\r\n" + rest[:length]
        self._record(request)
        return request

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


Handler = Callable[[Peer, int], None]


class TinyServer:
    """A loopback server running ``handler(peer, connection_index)`` per connection."""

    def __init__(self, handler: Handler, *, tls: Optional[ssl.SSLContext] = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.errors: list[BaseException] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> TinyServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        self._threads.append(thread)
        thread.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._stop.set()
        with self._lock:
            for sock in self._socks:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(10)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                index = self.connections
                self.connections += 1
                self._socks.append(sock)
                thread = threading.Thread(target=self._run, args=(sock, index), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _record(self, request: bytes) -> None:
        with self._lock:
            self.requests.append(request)

    def _run(self, sock: socket.socket, index: int) -> None:
        try:
            sock.settimeout(10)
            if self.tls is not None:
                try:
                    tls_sock = self.tls.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    return  # the client refused the certificate: that is what some tests want
                sock = tls_sock
            peer = Peer(sock, self._record)
            self.handler(peer, index)
        except OSError:
            pass
        except BaseException as exc:  # surfaced by the test through .errors
            self.errors.append(exc)
        finally:
            sock.close()


def answer(
    body: bytes = b"{}", *, status: str = "200 OK", extra: str = "", version: str = "HTTP/1.1"
) -> bytes:
    return (
        f"{version} {status}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"x-amz-crc32: {zlib.crc32(body)}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def serve_forever(reply: Callable[[int], bytes]) -> Handler:
    """A handler answering every request on the connection with ``reply(request_number)``."""

    def handler(peer: Peer, index: int) -> None:
        n = 0
        while peer.read_request() is not None:
            peer.send(reply(n))
            n += 1

    return handler


def wait_until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    """Poll until ``condition()`` holds (a deadlock-safe wait; no timing is asserted)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.002)


SIMPLE_HEADERS = {"Host": "x", "X-Amz-Target": "DynamoDB_20120810.ListTables"}


class FakeClock:
    """A monotonic clock that moves only when told to: idle times without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_certs(folder: Path) -> dict[str, Path]:
    """A throw-away CA and a server certificate for ``localhost`` signed by it, written into
    ``folder`` (:func:`dynamore.testing.make_certificates`), by file name."""
    certs = make_certificates(folder, ("localhost",))
    return {"ca.pem": certs.ca, "server.pem": certs.cert, "server.key": certs.key}


def tls_server(certs: dict[str, Path], seen_names: list[Optional[str]]) -> TinyServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs["server.pem"], certs["server.key"])

    def remember(sock: Any, name: Optional[str], ctx: Any) -> None:
        seen_names.append(name)

    context.sni_callback = remember
    return TinyServer(serve_forever(lambda n: answer(b'{"tls":true}')), tls=context)


def clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy and no CA bundle from the environment (for the rest of the test)."""
    for name in (*PROXY_VARS, "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch
