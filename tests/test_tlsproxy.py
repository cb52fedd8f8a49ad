"""The loopback TLS endpoint (:mod:`dynamore._tlsproxy`, public as ``dynamore.testing``), and
both transports over it against DynamoDB Local: certificates verified by default, an unknown
CA and a wrong host name refused with a ConnectError that says why."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynamore import Client
from dynamore.exceptions import ConnectError
from dynamore.testing import Certificates, TLSProxy, make_certificates
from tests.http_kit import TinyServer, answer, clear_proxy_env, serve_forever

KINDS = ["native", "botocore"]


@pytest.fixture(scope="module")
def proxy(ddb_endpoint: str) -> Iterator[TLSProxy]:
    with TLSProxy(ddb_endpoint) as running:
        yield running


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return clear_proxy_env(monkeypatch)


def _extensions(cert: Path) -> str:
    done = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_certificates_carry_what_strict_verification_demands(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path, ("localhost", "127.0.0.1"))
    ca = _extensions(certs.ca)
    assert "X509v3 Basic Constraints: critical\n                CA:TRUE" in ca
    assert "Certificate Sign" in ca and "X509v3 Subject Key Identifier" in ca
    leaf = _extensions(certs.cert)
    assert "CA:FALSE" in leaf and "TLS Web Server Authentication" in leaf
    assert "DNS:localhost, IP Address:127.0.0.1" in leaf
    assert "X509v3 Authority Key Identifier" in leaf
    # Python 3.13's default context verifies with X509_STRICT; ask for it on every version.
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
    with TinyServer(serve_forever(lambda n: answer()), tls=_server_context(certs)) as server:
        raw = socket.create_connection(("127.0.0.1", server.port))
        with contextlib.closing(context.wrap_socket(raw, server_hostname="localhost")) as sock:
            assert sock.version() is not None


def _server_context(certs: Certificates) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert, certs.key)
    return context


@pytest.mark.parametrize("kind", KINDS)
def test_put_and_get_over_https(
    kind: str, proxy: TLSProxy, table: str, env: pytest.MonkeyPatch
) -> None:
    env.setenv("AWS_CA_BUNDLE", str(proxy.ca_bundle))
    assert proxy.url.startswith("https://localhost:")
    with Client(endpoint_url=proxy.url, transport=kind) as db:
        item = {"PK": "tls", "SK": kind, "n": 7, "blob": b"\x00\x01"}
        db.put_item(table, item)
        assert db.get_item(table, {"PK": "tls", "SK": kind}) == item


@pytest.mark.parametrize("kind", KINDS)
def test_certificates_are_verified_by_default(
    kind: str, proxy: TLSProxy, env: pytest.MonkeyPatch
) -> None:
    # No CA bundle configured: the system's (or botocore's) store, which knows no test CA.
    with (
        Client(endpoint_url=proxy.url, transport=kind, retry=1) as db,
        pytest.raises(ConnectError, match="TLS certificate was refused") as caught,
    ):
        db.call("ListTables", {})
    assert "unable to get local issuer certificate" in str(caught.value)


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_ca_is_refused(
    kind: str, proxy: TLSProxy, tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    other = make_certificates(tmp_path)  # same names, another CA
    env.setenv("AWS_CA_BUNDLE", str(other.ca))
    with (
        Client(endpoint_url=proxy.url, transport=kind, retry=1) as db,
        pytest.raises(ConnectError) as caught,
    ):
        db.call("ListTables", {})
    message = str(caught.value)
    assert "TLS certificate was refused" in message
    assert f"trusted CAs: AWS_CA_BUNDLE={other.ca}" in message


@pytest.mark.parametrize("kind", KINDS)
def test_a_wrong_host_name_is_refused(kind: str, proxy: TLSProxy, env: pytest.MonkeyPatch) -> None:
    env.setenv("AWS_CA_BUNDLE", str(proxy.ca_bundle))
    wrong = proxy.url.replace("localhost", "127.0.0.1")  # the certificate names localhost only
    with (
        Client(endpoint_url=wrong, transport=kind, retry=1) as db,
        pytest.raises(ConnectError, match="TLS certificate was refused") as caught,
    ):
        db.call("ListTables", {})
    assert "127.0.0.1" in str(caught.value) and "match" in str(caught.value).lower()


def test_a_proxy_in_its_own_process(ddb_endpoint: str, env: pytest.MonkeyPatch) -> None:
    with TLSProxy(ddb_endpoint, process=True) as proxy:
        env.setenv("AWS_CA_BUNDLE", proxy.environ()["AWS_CA_BUNDLE"])
        with Client(endpoint_url=proxy.url, transport="native") as db:
            assert "TableNames" in db.call("ListTables", {})
        folder = proxy.ca_bundle.parent
    assert not folder.exists()  # the throw-away CA is gone with the proxy
    with pytest.raises(ValueError, match="plain http"):
        TLSProxy("https://127.0.0.1:1")


def test_stop_closes_open_connections(ddb_endpoint: str, env: pytest.MonkeyPatch) -> None:
    proxy = TLSProxy(ddb_endpoint)
    with proxy:
        env.setenv("AWS_CA_BUNDLE", str(proxy.ca_bundle))
        db = Client(endpoint_url=proxy.url, transport="native")
        db.call("ListTables", {})
        assert db.transport.idle == 1  # type: ignore[attr-defined]
    assert "stopped" in repr(proxy)
    with pytest.raises(ConnectError):  # nothing listens any more
        db.call("ListTables", {})
    db.close()


def test_every_socket_of_the_proxy_sends_without_delay(
    ddb_endpoint: str, env: pytest.MonkeyPatch
) -> None:
    """Both legs set TCP_NODELAY. On the client leg without it, a response relayed in two
    writes waited for the client's delayed ACK: ~40 ms on every first call of a cold-start
    benchmark, which a real endpoint does not add."""
    with TLSProxy(ddb_endpoint) as proxy:
        env.setenv("AWS_CA_BUNDLE", str(proxy.ca_bundle))
        with Client(endpoint_url=proxy.url, transport="native") as db:
            db.call("ListTables", {})
            server = proxy._server
            assert server is not None
            with server._lock:
                # The accepted socket handed its descriptor to its TLS wrapper.
                socks = [sock for sock in server._socks if sock.fileno() != -1]
            assert len(socks) == 2  # the client's leg (TLS) and the upstream leg
            for sock in socks:
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
