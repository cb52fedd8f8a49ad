"""dynamore._transports.tls: the native transport's TLS on ``_ssl``, without ``ssl.py``.

The oracle for the settings is ``ssl.create_default_context`` of the running Python; the
sockets are exercised by the native transport against a scripted TLS server, for what a
DynamoDB connection meets: large bodies both ways, kept-alive reuse, a server closing with
and without close_notify, a server that goes silent, a child process after ``fork``."""

from __future__ import annotations

import _ssl
import os
import select
import ssl
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest

from dynamore._transports import tls
from dynamore._transports.native import NativeTransport
from dynamore.exceptions import ConfigurationError, ResponseTimeout, TransportError
from tests.http_kit import (
    SIMPLE_HEADERS,
    Peer,
    TinyServer,
    answer,
    clear_proxy_env,
    make_certs,
    serve_forever,
    wait_until,
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def trusting(certs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test CA configured the way users configure one: AWS_CA_BUNDLE."""
    clear_proxy_env(monkeypatch)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certs["ca.pem"]))
    yield


def server_context(certs: dict[str, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs["server.pem"], certs["server.key"])
    return context


def settings(context: _ssl._SSLContext) -> dict[str, object]:
    return {
        "options": context.options,
        "verify_mode": context.verify_mode,
        "check_hostname": context.check_hostname,
        "verify_flags": context.verify_flags,
        "minimum_version": context.minimum_version,
        "maximum_version": context.maximum_version,
        "ciphers": [c["name"] for c in context.get_ciphers()],
        "store": context.cert_store_stats(),
    }


def test_the_context_is_what_create_default_context_makes(trusting: None) -> None:
    ours, trust = tls.client_context()
    assert type(ours) is _ssl._SSLContext  # not ssl.SSLContext: ssl.py is not needed
    assert trust.startswith("AWS_CA_BUNDLE=")
    reference = ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"])
    assert settings(ours) == settings(reference)
    assert settings(ours)["store"] == {"x509": 1, "crl": 0, "x509_ca": 1}


def test_without_a_bundle_the_system_store_as_create_default_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clear_proxy_env(monkeypatch)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    ours, trust = tls.client_context()
    assert trust == "the system's CA store"
    assert settings(ours) == settings(ssl.create_default_context())


def test_a_folder_bundle_is_a_capath(
    certs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_proxy_env(monkeypatch)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path))
    ours, trust = tls.client_context()
    assert trust == f"AWS_CA_BUNDLE={tmp_path}"
    assert settings(ours) == settings(ssl.create_default_context(capath=str(tmp_path)))


def test_an_unreadable_bundle_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_proxy_env(monkeypatch)
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(garbage))
    for build in (tls.client_context, tls.ssl_context):
        with pytest.raises(ConfigurationError, match=f"AWS_CA_BUNDLE='{garbage}' cannot be"):
            build()


def test_the_key_log_file_of_the_environment_is_honoured(
    trusting: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "keys"))
    ours, _ = tls.client_context()
    assert ours.keylog_filename == ssl.create_default_context().keylog_filename


def test_large_bodies_both_ways_on_one_kept_alive_connection(
    certs: dict[str, Path], trusting: None
) -> None:
    big = b'{"s":"' + b"x" * (1 << 20) + b'"}'  # many TLS records each way
    received: list[int] = []

    def echo_size(peer: Peer, index: int) -> None:
        while (request := peer.read_request()) is not None:
            received.append(len(request.partition(b"\r\n\r\n")[2]))
            peer.send(answer(big))

    with (
        TinyServer(echo_size, tls=server_context(certs)) as server,
        NativeTransport(f"https://localhost:{server.port}") as transport,
    ):
        for size in (0, 100_000, 400_000):
            assert transport.send(SIMPLE_HEADERS, b"y" * size).body == big
        assert transport.idle == 1
        connection = transport._idle[0][0]
        assert isinstance(connection, tls.TLSSocket)  # our socket, not ssl.SSLSocket
    assert received == [0, 100_000, 400_000]
    assert server.connections == 1


@pytest.mark.parametrize("close_notify", [True, False], ids=["close_notify", "ragged"])
def test_a_server_closing_a_kept_alive_connection_means_a_new_one(
    certs: dict[str, Path], trusting: None, close_notify: bool
) -> None:
    def one_answer_then_close(peer: Peer, index: int) -> None:
        peer.read_request()
        peer.send(answer(b'{"n":%d}' % index))
        if close_notify:
            peer.sock.unwrap()  # type: ignore[attr-defined]

    with (
        TinyServer(one_answer_then_close, tls=server_context(certs)) as server,
        NativeTransport(f"https://localhost:{server.port}") as transport,
    ):
        assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"n":0}'
        idle = transport._idle[0][0]
        wait_until(lambda: bool(select.select([idle], [], [], 0)[0]))  # the close arrived
        assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"n":1}'
    assert server.connections == 2


@pytest.mark.parametrize("close_notify", [True, False], ids=["close_notify", "ragged"])
def test_a_body_cut_short_is_a_transport_error_not_an_ssl_one(
    certs: dict[str, Path], trusting: None, close_notify: bool
) -> None:
    def cut(peer: Peer, index: int) -> None:
        peer.read_request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        if close_notify:
            peer.sock.unwrap()  # type: ignore[attr-defined]

    with (
        TinyServer(cut, tls=server_context(certs)) as server,
        NativeTransport(f"https://localhost:{server.port}") as transport,
    ):
        with pytest.raises(TransportError) as caught:
            transport.send(SIMPLE_HEADERS, b"{}")
        assert not isinstance(caught.value, ResponseTimeout)
        assert (transport.idle, transport.active) == (0, 0)


def test_a_silent_server_is_a_response_timeout(certs: dict[str, Path], trusting: None) -> None:
    def silent(peer: Peer, index: int) -> None:
        peer.read_request()
        time.sleep(2)

    with TinyServer(silent, tls=server_context(certs)) as server:
        url = f"https://localhost:{server.port}"
        with NativeTransport(url, read_timeout=0.3) as transport:
            with pytest.raises(ResponseTimeout):
                transport.send(SIMPLE_HEADERS, b"{}")
            assert (transport.idle, transport.active) == (0, 0)


def test_a_forked_child_opens_its_own_tls_connection(
    certs: dict[str, Path], trusting: None
) -> None:
    reply = serve_forever(lambda n: answer(b'{"n":%d}' % n))
    with (
        TinyServer(reply, tls=server_context(certs)) as server,
        NativeTransport(f"https://localhost:{server.port}") as transport,
    ):
        assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"n":0}'
        with warnings.catch_warnings():  # 3.12+: the server's threads are running
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: its own connection (a first answer), then leave at once
            ok = transport.idle == 0 and transport.send(SIMPLE_HEADERS, b"{}").body == (b'{"n":0}')
            os._exit(0 if ok else 1)
        status = wait_for(pid)
        # The parent's TLS session is untouched by the child: its second answer.
        assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"n":1}'
    assert status == 0
    assert server.connections == 2


def wait_for(pid: int, limit: float = 60) -> Optional[int]:
    """The child's exit status; killed (None) when it is still running after ``limit``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


def test_a_callers_ssl_context_is_used_through_ssl(certs: dict[str, Path]) -> None:
    context = ssl.create_default_context(cafile=str(certs["ca.pem"]))
    with (
        TinyServer(serve_forever(lambda n: answer()), tls=server_context(certs)) as server,
        NativeTransport(f"https://localhost:{server.port}", ssl_context=context) as t,
    ):
        t.send(SIMPLE_HEADERS, b"{}")
        assert isinstance(t._idle[0][0], ssl.SSLSocket)
