"""``dynamore serve``: a :class:`~dynamore.rest.RestApi` over real HTTP on loopback.

Each request becomes an HTTP API (payload 2.0) event, the handler answers it, and its response
dict becomes the HTTP response: what API Gateway does in front of a Lambda function, so
``curl``, browsers and API tools see what they would see in AWS. For local development and
tests (against DynamoDB Local), not for production: one thread per connection, stdlib
``http.server``.

    dynamore serve --table MyTable --entity myapp.models:Person [--entity ...] [--port 8000]
"""

from __future__ import annotations

import argparse
import base64
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import IO, Any, Optional
from urllib.parse import urlsplit

from dynamore.rest._api import RestApi

__all__ = ["DEFAULT_PORT", "RestServer", "main", "request_event"]

DEFAULT_PORT = 8000
_TEXT_TYPES = ("application/json", "text/")


def request_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, client_ip: str
) -> dict[str, Any]:
    """The payload 2.0 event API Gateway's HTTP API would send for this request: header
    names lower-cased and repeated ones joined by commas, cookies apart, a body that is not
    text in base64."""
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    cookies = joined.pop("cookie", None)
    parts = urlsplit(target)
    media = joined.get("content-type", "")
    text = not body or media.startswith(_TEXT_TYPES) or media.endswith("+json")
    try:
        body_text = body.decode("utf-8") if text else None
    except UnicodeDecodeError:
        body_text = None
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": joined,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": joined.get("host", "localhost"),
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": client_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": body_text is None,
    }
    if cookies:
        event["cookies"] = [c.strip() for c in cookies.split(";")]
    if body:
        event["body"] = body_text if body_text is not None else base64.b64encode(body).decode()
    return event


class _Handler(BaseHTTPRequestHandler):
    server: RestServer
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        event = request_event(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        response = self.server.api.handler(event, None)
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        self.send_response(response["statusCode"])
        for name, value in (response.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        if self.server.log is not None:
            self.server.log.write(f"{self.address_string()} {format % args}\n")


class RestServer(ThreadingHTTPServer):
    """An HTTP server on ``(host, port)`` answering with ``api``'s handler; access log lines
    go to ``log`` (none without). Port 0 picks a free port (see :attr:`url`)."""

    daemon_threads = True

    def __init__(self, api: RestApi, host: str, port: int, log: Optional[IO[str]] = None) -> None:
        self.api = api
        self.log = log
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """The base URL the server answers on."""
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynamore serve",
        description="Serve a REST API over entity types on loopback (requests become "
        "HTTP API payload 2.0 events for the same handler Lambda runs).",
    )
    parser.add_argument("--table", required=True, help="the DynamoDB table")
    parser.add_argument(
        "--entity",
        action="append",
        required=True,
        metavar="MODULE:CLASS",
        help="an Entity class, e.g. myapp.models:Person (repeat for more)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0: any free"
    )
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (loopback)")
    parser.add_argument("--endpoint", help="DynamoDB endpoint URL (default: from the environment)")
    parser.add_argument("--region", help="AWS region (default: from the environment)")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """Run ``dynamore serve`` until Ctrl-C or SIGTERM; returns the exit status (0 after a
    clean stop, 2 when the server cannot start). The first line on stdout is the URL."""
    from dynamore._client import Client
    from dynamore.exceptions import DynamoreError
    from dynamore.loader._files import SetupError
    from dynamore.loader._files import import_entity as _import_entity

    args = _parser().parse_args(argv)
    try:
        entities = [_import_entity(spec) for spec in args.entity]
        client = Client(endpoint_url=args.endpoint, region=args.region)
        api = RestApi(table_name=args.table, entities=entities, client=client)
        server = RestServer(api, args.host, args.port, sys.stderr)
    except (SetupError, DynamoreError, OSError) as exc:
        sys.stderr.write(f"dynamore serve: error: {exc}\n")
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    thread = threading.Thread(target=server.serve_forever, name="dynamore-serve", daemon=True)
    thread.start()
    sys.stdout.write(f"serving {', '.join(f'/{n}' for n in api.collections)} on {server.url}\n")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.shutdown()
        server.server_close()
        client.close()
    return 0
