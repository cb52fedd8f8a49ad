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
import asyncio
import contextlib
import ipaddress
import shutil
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
_STARTUP_TIMEOUT = 30.0


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


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes one way until EOF or failure, then close the far side: HTTP needs no
    half-closed connections, and a closed side ends the other pump too."""
    try:
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        writer.close()


class _Server:
    """The asyncio side of the proxy: one pair of pumps per accepted connection."""

    def __init__(self, upstream: tuple[str, int], context: ssl.SSLContext) -> None:
        self._upstream = upstream
        self._context = context
        self._tasks: set[asyncio.Task[None]] = set()
        # Every connection's transport, both sides: stop() aborts whatever is still open.
        self._transports: list[asyncio.WriteTransport] = []

    async def start(self, host: str) -> tuple[list[asyncio.Server], int]:
        # One port on every loopback address the host name has (127.0.0.1, often ::1 too),
        # so a client trying ::1 first is not refused before it tries 127.0.0.1.
        first = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._context)
        port = int(first.sockets[0].getsockname()[1])
        servers = [first]
        if host == "localhost":
            with contextlib.suppress(OSError):
                servers.append(
                    await asyncio.start_server(self._handle, "::1", port, ssl=self._context)
                )
        return servers, port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._transports.append(writer.transport)
        up_writer: Optional[asyncio.StreamWriter] = None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
            self._transports.append(up_writer.transport)
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        except OSError:
            pass
        finally:
            writer.close()
            if up_writer is not None:
                up_writer.close()
            self._tasks.discard(task)

    async def close_connections(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A closed TLS transport waits for the client's close_notify before it closes its
        # socket; at the end nothing may be left waiting, so every transport is aborted.
        for transport in self._transports:
            transport.abort()
        self._transports.clear()
        for _ in range(3):  # the callbacks that close the sockets
            await asyncio.sleep(0)


async def _serve(
    upstream: tuple[str, int],
    certificates: Certificates,
    host: str,
    started: Optional[threading.Event],
    on_port: Callable[[int], None],
    stop: Optional[asyncio.Event],
) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.cert, certificates.key)
    server = _Server(upstream, context)
    servers, port = await server.start(host)
    on_port(port)
    if started is not None:
        started.set()
    try:
        if stop is None:
            await asyncio.Event().wait()  # until the process is ended
        else:
            await stop.wait()
    finally:
        for listener in servers:
            listener.close()
        await server.close_connections()
        for listener in servers:
            await listener.wait_closed()


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
        self._thread: Optional[threading.Thread] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop: Optional[asyncio.Event] = None
        self._failure: Optional[BaseException] = None

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
                self._start_thread()
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

    def _start_thread(self) -> None:
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="dynamore-tls-proxy", daemon=True
        )
        self._thread.start()
        started.wait(_STARTUP_TIMEOUT)
        if self._failure is not None:
            raise RuntimeError(f"the TLS proxy did not start: {self._failure}")
        if not self.port:
            raise RuntimeError("the TLS proxy did not start in time")

    def _run(self, started: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(started))
        except BaseException as exc:
            self._failure = exc
            started.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self, started: threading.Event) -> None:
        # Made here: on Python 3.9 an Event binds to the loop current at its creation.
        self._stop = asyncio.Event()
        await _serve(
            self._upstream, self.certificates, self.host, started, self._set_port, self._stop
        )

    def _set_port(self, port: int) -> None:
        self.port = port

    def stop(self) -> None:
        """Stop listening, close every connection and remove certificates made here."""
        if self._child is not None:
            self._child.terminate()
            self._child.wait()
            if self._child.stdout is not None:
                self._child.stdout.close()
            self._child = None
        if self._thread is not None:
            loop, stop = self._loop, self._stop
            if loop is not None and stop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                    loop.call_soon_threadsafe(stop.set)
            self._thread.join(_STARTUP_TIMEOUT)
            self._thread = None
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

    def announce(port: int) -> None:
        print(f"https://{args.host}:{port}", flush=True)

    asyncio.run(
        _serve((endpoint.host, endpoint.port), certificates, args.host, None, announce, None)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
