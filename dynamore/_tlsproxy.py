"""A loopback TLS endpoint for tests and benchmarks: a throw-away CA, and a TLS-terminating
proxy in front of a plain-http server (DynamoDB Local), as a Lambda reaches DynamoDB over https.

- :func:`make_certificates` writes a CA and a server certificate signed by it (``openssl`` on
  ``PATH``), with the extensions every Python 3.9-3.13 demands (3.13 verifies strictly: a CA
  with ``basicConstraints`` and ``keyUsage``, a server certificate with its key identifiers);
- :class:`TLSProxy` listens on loopback, ends TLS and passes the bytes on to the upstream
  server untouched. Trust its CA through ``AWS_CA_BUNDLE`` (:meth:`TLSProxy.environ`), as any
  AWS SDK does. It runs in a thread of this process, or in a process of its own
  (``process=True``) so that its CPU time stays out of a benchmark's.

``python -m dynamore._tlsproxy --upstream URL --cert PEM --key PEM`` runs the proxy in the
foreground and prints its URL (what ``process=True`` starts).

>>> with TLSProxy("http://127.0.0.1:8000") as proxy:      # doctest: +SKIP
...     with Client(endpoint_url=proxy.url) as db:       # AWS_CA_BUNDLE=proxy.ca_bundle
...         db.list_tables()
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Callable, NamedTuple, Optional

from dynamore._config import Endpoint

__all__ = ["Certificates", "TLSProxy", "make_certificates"]

_CHUNK = 65536
_STOP_TIMEOUT = 10.0


class Certificates(NamedTuple):
    """Paths of a throw-away CA certificate and of a server certificate and key it signed."""

    ca: Path
    cert: Path
    key: Path


def _openssl(folder: Path, *args: str) -> None:
    if shutil.which("openssl") is None:
        raise RuntimeError("making test certificates needs the openssl command on PATH")
    done = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def _alt_name(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"DNS:{host}"
    return f"IP:{host}"


def make_certificates(
    folder: Path, hosts: tuple[str, ...] = ("localhost",), *, days: int = 2
) -> Certificates:
    """Write a new CA (``ca.pem``/``ca.key``) and a certificate for ``hosts``
    (``server.pem``/``server.key``, names or IP addresses) signed by it into ``folder``.

    RSA 2048 keys, as DynamoDB's own certificates have: a TLS handshake costs what it costs
    against AWS. The configuration is written here, so the system's ``openssl.cnf`` changes
    nothing.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.cnf").write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ca\n"
        "[dn]\nCN = dynamore throw-away test CA\n"
        "[ca]\nbasicConstraints = critical, CA:TRUE\n"
        "keyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n"
    )
    (folder / "server.cnf").write_text(
        f"[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = {hosts[0]}\n"
        "[server]\nbasicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        f"subjectAltName = {', '.join(_alt_name(h) for h in hosts)}\n"
        "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid, issuer\n"
    )
    _openssl(
        folder, "req", "-x509", "-config", "ca.cnf", "-newkey", "rsa:2048", "-nodes",
        "-days", str(days), "-keyout", "ca.key", "-out", "ca.pem",
    )  # fmt: skip
    _openssl(
        folder, "req", "-new", "-config", "server.cnf", "-newkey", "rsa:2048", "-nodes",
        "-keyout", "server.key", "-out", "server.csr",
    )  # fmt: skip
    _openssl(
        folder, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", str(days), "-extfile", "server.cnf", "-extensions",
        "server", "-out", "server.pem",
    )  # fmt: skip
    return Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")


def _relay(client: ssl.SSLSocket, upstream: socket.socket) -> None:
    """Pass bytes both ways until either side closes. One thread owns both sockets (an
    ``SSLSocket`` must not be read and written by two threads at once); ``pending()`` holds
    TLS bytes already decrypted that ``select`` cannot see."""
    while True:
        if not client.pending():
            readable, _, _ = select.select([client, upstream], [], [])
        else:
            readable = [client]
        for sock in readable:
            data = sock.recv(_CHUNK)
            if not data:
                return
            (upstream if sock is client else client).sendall(data)


class _Server:
    """Accepts on one or two loopback listeners; one thread per connection."""

    def __init__(self, upstream: tuple[str, int], context: ssl.SSLContext, host: str) -> None:
        self._upstream = upstream
        self._context = context
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        first = socket.create_server(("127.0.0.1", 0))
        self.port = int(first.getsockname()[1])
        self._listeners = [first]
        # The same port on ::1 too: a client trying ::1 first (localhost often resolves to
        # it first) is not refused before it tries 127.0.0.1.
        if host == "localhost" and socket.has_ipv6:
            with contextlib.suppress(OSError):
                self._listeners.append(
                    socket.create_server(("::1", self.port), family=socket.AF_INET6)
                )

    def start(self) -> None:
        for listener in self._listeners:
            self._spawn(self._accept, listener)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stopping:
                return False
            self._socks.add(sock)
            return True

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return  # the listener was closed: stopping
            if not self._track(sock):
                sock.close()
                return
            self._spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        opened: list[socket.socket] = [sock]
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # The handshake takes the descriptor over: from here on the TLS socket is the
            # one to shut down at stop().
            client = self._context.wrap_socket(sock, server_side=True)
            opened.append(client)
            self._track(client)
            upstream = socket.create_connection(self._upstream)
            opened.append(upstream)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._track(upstream):
                _relay(client, upstream)
        except OSError:  # a refused certificate, a reset, the stop: the connection ends
            pass
        finally:
            for each in opened:
                each.close()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            socks, self._socks = list(self._socks), set()
            threads = list(self._threads)
        for listener in self._listeners:
            # shutdown() wakes a thread blocked in accept(); close() alone may not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the relay's select()
        for thread in threads:
            thread.join(_STOP_TIMEOUT)
        for sock in socks:
            sock.close()


def _server(upstream: tuple[str, int], certificates: Certificates, host: str) -> _Server:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.cert, certificates.key)
    return _Server(upstream, context, host)


class TLSProxy:
    """A TLS-terminating proxy on loopback in front of the plain-http ``upstream``.

    Without ``certificates``, a new throw-away CA and a certificate for ``host`` are made in
    a temporary folder, removed at the end. :attr:`url` is ``https://<host>:<port>``;
    :attr:`ca_bundle` is the CA file to trust (``AWS_CA_BUNDLE``, see :meth:`environ`).
    ``process=True`` runs the proxy in a child process (a benchmark's CPU time then holds
    only the client's work); else it runs in a thread.

    >>> with TLSProxy("http://127.0.0.1:8000") as proxy:            # doctest: +SKIP
    ...     proxy.url, proxy.environ()
    ('https://localhost:41234', {'AWS_CA_BUNDLE': '/tmp/.../ca.pem'})
    """

    def __init__(
        self,
        upstream: str,
        *,
        certificates: Optional[Certificates] = None,
        host: str = "localhost",
        process: bool = False,
    ) -> None:
        endpoint = Endpoint.parse(upstream)
        if endpoint.scheme != "http":
            raise ValueError(f"the upstream of a TLSProxy is a plain http URL, not {upstream!r}")
        self.upstream = upstream
        self.host = host
        self.port = 0
        self._upstream = (endpoint.host, endpoint.port)
        self._given = certificates
        self._certificates = certificates
        self._process = process
        self._folder: Optional[tempfile.TemporaryDirectory[str]] = None
        self._child: Optional[subprocess.Popen[str]] = None
        self._server: Optional[_Server] = None

    @property
    def certificates(self) -> Certificates:
        """The CA and server certificate in use (made at :meth:`start` when not given)."""
        if self._certificates is None:
            raise RuntimeError("the TLSProxy has not been started")
        return self._certificates

    @property
    def ca_bundle(self) -> Path:
        """The CA certificate that clients must trust."""
        return self.certificates.ca

    @property
    def url(self) -> str:
        """The https endpoint URL, once started."""
        return f"https://{self.host}:{self.port}"

    def environ(self) -> dict[str, str]:
        """The environment that makes AWS SDKs (and dynamore) trust this proxy."""
        return {"AWS_CA_BUNDLE": str(self.ca_bundle)}

    def __repr__(self) -> str:
        return f"<TLSProxy {self.url if self.port else 'stopped'} -> {self.upstream}>"

    def __enter__(self) -> TLSProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Make the certificates when needed, and start listening."""
        if self._certificates is None:
            self._folder = tempfile.TemporaryDirectory(prefix="dynamore-tls-")
            self._certificates = make_certificates(Path(self._folder.name), (self.host,))
        try:
            if self._process:
                self._start_process()
            else:
                self._server = _server(self._upstream, self._certificates, self.host)
                self._server.start()
                self.port = self._server.port
        except BaseException:
            self.stop()
            raise

    def _start_process(self) -> None:
        certs = self.certificates
        cmd = [
            sys.executable, "-m", "dynamore._tlsproxy", "--upstream", self.upstream,
            "--cert", str(certs.cert), "--key", str(certs.key), "--host", self.host,
        ]  # fmt: skip
        self._child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self._child.stdout is not None
        line = self._child.stdout.readline().strip()
        if not line.startswith("https://"):
            raise RuntimeError(f"the TLS proxy process did not start (it said {line!r})")
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self) -> None:
        """Stop listening, close every connection and remove certificates made here."""
        if self._child is not None:
            self._child.terminate()
            self._child.wait()
            if self._child.stdout is not None:
                self._child.stdout.close()
            self._child = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.port = 0
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
            self._certificates = self._given


def main(argv: Optional[list[str]] = None) -> int:
    """Run a proxy in the foreground; print its URL, then serve until the process ends."""
    parser = argparse.ArgumentParser(prog="python -m dynamore._tlsproxy")
    parser.add_argument("--upstream", required=True, help="the plain http URL to forward to")
    parser.add_argument("--cert", required=True, type=Path, help="server certificate (PEM)")
    parser.add_argument("--key", required=True, type=Path, help="its private key (PEM)")
    parser.add_argument("--host", default="localhost", help="the name clients connect to")
    args = parser.parse_args(argv)
    endpoint = Endpoint.parse(args.upstream)
    certificates = Certificates(args.cert, args.cert, args.key)
    server = _server((endpoint.host, endpoint.port), certificates, args.host)
    server.start()
    print(f"https://{args.host}:{server.port}", flush=True)
    threading.Event().wait()  # until the process is ended
    return 0


if __name__ == "__main__":
    sys.exit(main())
