"""The transports package: what both transports share (options, CA bundles, the life cycle
of :class:`~dynamore._transports.base.BaseTransport`), proxy detection and the choice of
:func:`~dynamore._transports.make_transport`."""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore
import pytest

from dynamore._transports import base, make_transport, proxy_applies
from dynamore._transports.base import BaseTransport, Response
from dynamore._transports.botocore import BotocoreTransport
from dynamore._transports.native import NativeTransport
from dynamore.exceptions import ConfigurationError, TransportError
from tests.http_kit import (
    PROXY_VARS,
    SIMPLE_HEADERS,
    clear_proxy_env,
    make_certs,
    tls_server,
)
from tests.kit import ROOT


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return clear_proxy_env(monkeypatch)


@pytest.mark.parametrize("cls", [NativeTransport, BotocoreTransport])
@pytest.mark.parametrize(
    "option",
    [
        {"max_connections": 0},
        {"max_connections": 2.0},
        {"connect_timeout": 0},
        {"read_timeout": -1},
        {"read_timeout": "10"},
        {"max_idle_time": 0},
        {"max_idle_time": float("nan")},
    ],
)
def test_numeric_options_are_checked(cls: type, option: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=f"^{next(iter(option))} must be"):
        cls("http://h", **option)


def test_both_transports_honour_a_custom_ca_bundle(
    certs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(certs["ca.pem"]))
    with tls_server(certs, []) as server:
        url = f"https://localhost:{server.port}"
        for kind, cls in (("auto", NativeTransport), ("botocore", BotocoreTransport)):
            transport = make_transport(url, kind=kind)
            try:
                assert isinstance(transport, cls)
                assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"tls":true}'
            finally:
                transport.close()
        strict = BotocoreTransport(url, verify=True)  # the system store only
        with strict, pytest.raises(TransportError):
            strict.send(SIMPLE_HEADERS, b"{}")


@pytest.mark.parametrize("kind", ["auto", "native", "botocore"])
@pytest.mark.parametrize("setting", ["AWS_CA_BUNDLE", "ca_bundle", "REQUESTS_CA_BUNDLE"])
def test_every_transport_trusts_the_configured_ca_bundle(
    setting: str,
    kind: str,
    certs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (*PROXY_VARS, "AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    config = tmp_path / "config"
    config.write_text("[default]\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    if setting == "ca_bundle":
        config.write_text(f"[default]\nca_bundle = {certs['ca.pem']}\n")
    else:
        monkeypatch.setenv(setting, str(certs["ca.pem"]))
    with tls_server(certs, []) as server:
        transport = make_transport(f"https://localhost:{server.port}", kind=kind)
        with contextlib.closing(transport):
            assert transport.send(SIMPLE_HEADERS, b"{}").body == b'{"tls":true}'


@pytest.mark.parametrize("kind", ["native", "botocore"])
def test_aws_ca_bundle_wins_over_requests_ca_bundle(
    kind: str, certs: dict[str, Path], no_proxy_env: pytest.MonkeyPatch
) -> None:
    no_proxy_env.setenv("REQUESTS_CA_BUNDLE", str(certs["ca.pem"]))
    # Public CAs only, none of which issued the server's certificate (the leaf itself would
    # be accepted as a trust anchor by Python 3.13's partial-chain verification).
    public_cas = Path(botocore.__file__).parent / "cacert.pem"
    no_proxy_env.setenv("AWS_CA_BUNDLE", str(public_cas))
    with tls_server(certs, []) as server:
        transport = make_transport(f"https://localhost:{server.port}", kind=kind)
        with contextlib.closing(transport), pytest.raises(TransportError):
            transport.send(SIMPLE_HEADERS, b"{}")
    no_proxy_env.setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
    with pytest.raises(ConfigurationError, match="AWS_CA_BUNDLE='/nonexistent/ca.pem'"):
        make_transport("https://localhost:1", kind=kind)


def test_proxy_applies_by_scheme_and_honours_no_proxy(no_proxy_env: pytest.MonkeyPatch) -> None:
    env = no_proxy_env
    assert not proxy_applies("https://dynamodb.eu-west-1.amazonaws.com")
    env.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert proxy_applies("https://dynamodb.eu-west-1.amazonaws.com")
    assert not proxy_applies("http://127.0.0.1:8000")
    env.setenv("NO_PROXY", "localhost,.amazonaws.com")
    assert not proxy_applies("https://dynamodb.eu-west-1.amazonaws.com")
    assert proxy_applies("https://dynamodb.example.net")
    env.setenv("NO_PROXY", "*")
    assert not proxy_applies("https://dynamodb.example.net")
    env.delenv("NO_PROXY")
    env.delenv("HTTPS_PROXY")
    env.setenv("http_proxy", "proxy.corp:3128")  # no scheme: an http proxy
    assert proxy_applies("http://10.0.0.5:8000")
    env.setenv("no_proxy", "10.0.0.5")
    assert not proxy_applies("http://10.0.0.5:8000")
    env.delenv("http_proxy")
    env.delenv("no_proxy")
    env.setenv("ALL_PROXY", "http://proxy.corp:3128")
    assert proxy_applies("https://dynamodb.example.net")
    env.setenv("ALL_PROXY", "socks5://proxy.corp:1080")  # neither transport speaks SOCKS
    assert not proxy_applies("https://dynamodb.example.net")


def test_make_transport_choice(no_proxy_env: pytest.MonkeyPatch) -> None:
    env = no_proxy_env
    aws = "https://dynamodb.eu-west-1.amazonaws.com"
    chosen = [make_transport(aws), make_transport(aws, kind="botocore")]
    env.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    chosen += [make_transport(aws), make_transport(aws, kind="native")]
    env.delenv("HTTPS_PROXY")
    env.setenv("AWS_CA_BUNDLE", "/nonexistent/ca.pem")
    with pytest.raises(ConfigurationError, match="AWS_CA_BUNDLE"):
        make_transport(aws)
    chosen += [make_transport("http://127.0.0.1:8000")]
    try:
        kinds = [type(t).__name__ for t in chosen]
        assert kinds == [
            "NativeTransport",
            "BotocoreTransport",
            "BotocoreTransport",
            "NativeTransport",
            "NativeTransport",  # a CA bundle means nothing to plain http
        ]
    finally:
        for transport in chosen:
            transport.close()
    native = make_transport(
        "http://127.0.0.1:8000", kind="native", read_timeout=0.5, max_connections=3
    )
    assert isinstance(native, NativeTransport)
    native.close()
    with pytest.raises(ConfigurationError):
        make_transport(aws, kind="curl")
    with pytest.raises(ConfigurationError):
        make_transport(aws, kind="botocore", ssl_context=ssl.create_default_context())


def test_choosing_the_native_transport_imports_no_botocore_nor_urllib_request() -> None:
    code = (
        "import sys, dynamore._transports as h;"
        "t = h.make_transport('http://127.0.0.1:1'); t.close();"
        "heavy = ('botocore', 'boto3', 'urllib3', 'urllib.request', 'http.client');"
        "print(type(t).__name__, [m for m in sys.modules if m.startswith(heavy)])"
    )
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.lower().endswith("_proxy") and name != "AWS_CA_BUNDLE"
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "NativeTransport []"


# -- the life cycle every transport shares ----------------------------------------------------


class Toy(BaseTransport):
    """A transport that only records what the base class asks of it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.calls: list[str] = []

    def send(self, headers: dict[str, str], body: bytes) -> Response:
        self._check_owner()
        self.calls.append("send")
        return Response(200, {}, body)

    def _close_connections(self) -> None:
        self.calls.append("close")

    def _forget_connections(self) -> None:
        self.calls.append("forget")


def test_base_transport_is_a_context_manager_that_closes() -> None:
    with Toy("http://h:1/") as toy:
        assert toy.send({}, b"x") == Response(200, {}, b"x")
    assert toy.calls == ["send", "close"]
    assert repr(toy) == "<Toy http://h:1>"
    toy.close()  # closing again is harmless, and the transport stays usable
    assert toy.send({}, b"y").body == b"y"


def test_a_copy_in_another_process_forgets_instead_of_closing() -> None:
    toy = Toy("http://h:1")
    toy._pid = -1  # as a forked child sees it when the at-fork hook did not run
    toy.close()
    assert toy.calls == ["forget"]  # never closes what the parent still uses
    toy.close()
    assert toy.calls == ["forget", "close"]  # forgot once: now the connections are its own
    toy._pid = -1
    toy.send({}, b"")
    assert toy.calls[-2:] == ["forget", "send"]


def test_a_transport_must_write_send_and_its_hooks() -> None:
    class Incomplete(BaseTransport):
        def send(self, headers: dict[str, str], body: bytes) -> Response:
            return Response(200, {}, b"")

    with pytest.raises(TypeError):
        Incomplete("http://h")  # type: ignore[abstract]


def test_a_transport_is_registered_for_forks_only_once_built() -> None:
    # A fork while a subclass is still building its state must not run its hooks.
    registered_during_init: list[bool] = []

    class Slow(Toy):
        def __init__(self, url: str) -> None:
            super().__init__(url)
            registered_during_init.append(self in base._live)

    slow = Slow("http://h:1")
    assert registered_during_init == [False]
    assert slow in base._live


def test_the_shared_options_are_checked_and_kept_by_the_base() -> None:
    toy = Toy("http://h:1")
    assert (toy.endpoint.host, toy.endpoint.port) == ("h", 1)
    native = NativeTransport("http://h:1", read_timeout=2.5, max_connections=3)
    assert (native.read_timeout, native.max_connections) == (2.5, 3)
    with pytest.raises(ConfigurationError, match="^max_idle_time must be"):
        BaseTransport.__init__(toy, "http://h:1", max_idle_time=-1)
