"""TLS for our transports: which CAs to trust, and the native transport's TLS sockets.

The native transport speaks TLS through ``_ssl``, the C module under the standard ``ssl``
module, rather than through ``ssl`` itself. Importing ``ssl.py`` builds a dozen enum classes
out of OpenSSL's constants and resolves object identifiers, for nothing a client needs:
measured over https on CPython 3.11, a cold start (import, client, first GetItem) took ~5 ms
less and peaked ~0.35 MB lower without it. What ``ssl`` adds over ``_ssl`` for our use is
small and written out here: the settings of ``ssl.create_default_context`` for a verifying
client (:func:`client_context`), and a socket face over the C TLS object (:class:`TLSSocket`:
``recv``/``recv_into``/``sendall`` with ragged end-of-file read as end of file, as ``ssl``
does by default).

Certificates are verified and the host name checked by OpenSSL exactly as through ``ssl``
(the same C code does it); errors are the same classes (``ssl.SSLError`` *is*
``_ssl.SSLError``). An ``ssl.SSLContext`` given by a caller is used through ``ssl`` as is,
and a Python without ``_ssl``'s client API (not CPython) gets ``ssl`` too.

The asyncio transport needs an ``ssl.SSLContext`` (asyncio imports ``ssl`` anyway):
:func:`ssl_context` builds it with the same trust.
"""

from __future__ import annotations

import os
import sys

from dynamore._config import resolve_ca_bundle
from dynamore.exceptions import ConfigurationError

try:
    import _ssl
    from _ssl import SSLCertVerificationError, SSLError

    _LEAN = hasattr(_ssl, "_SSLContext") and hasattr(_ssl._SSLContext, "_wrap_socket")
except ImportError:  # a Python built without OpenSSL: https is refused where it is asked for
    _LEAN = False

    class SSLError(OSError):  # type: ignore[no-redef]
        """Never raised: this Python has no TLS (``except`` clauses still name it)."""

    class SSLCertVerificationError(SSLError):  # type: ignore[no-redef]
        """Never raised: this Python has no TLS."""


TYPE_CHECKING = False
if TYPE_CHECKING:
    import _socket
    import ssl
    from typing import Any, Optional, Union

__all__ = ["SSLCertVerificationError", "TLSSocket", "client_context", "ssl_context", "wrap_tls"]


def _trust() -> tuple[Optional[str], Optional[str], str, str]:
    """(cafile, capath, what is trusted, the message if it cannot be loaded): the configured
    CA bundle (``AWS_CA_BUNDLE`` > the profile's ``ca_bundle`` > ``REQUESTS_CA_BUNDLE``), a
    file or a folder, else (None, None) for the system's store."""
    bundle = resolve_ca_bundle()
    if bundle is None:
        return None, None, "the system's CA store", "the system's CA store cannot be loaded"
    path, source = bundle
    refusal = f"{source}={path!r} cannot be loaded"
    if os.path.isdir(path):
        return None, path, f"{source}={path}", refusal
    return path, None, f"{source}={path}", refusal


def ssl_context() -> tuple[ssl.SSLContext, str]:
    """An ``ssl.SSLContext`` verifying against the configured trust (see :func:`_trust`),
    and what it trusts."""
    return _ssl_module_context(*_trust())


def _ssl_module_context(
    cafile: Optional[str], capath: Optional[str], trust: str, refusal: str
) -> tuple[ssl.SSLContext, str]:
    import ssl

    try:
        return ssl.create_default_context(cafile=cafile, capath=capath), trust
    except OSError as exc:  # ssl.SSLError included
        raise ConfigurationError(f"{refusal}: {exc}") from exc


def client_context() -> tuple[Any, str]:
    """The native transport's context, verifying against the configured trust, and what it
    trusts: an ``_ssl`` context set as ``ssl.create_default_context()`` sets one for a
    client, or an ``ssl.SSLContext`` where ``_ssl`` has no client API or the system's store
    is not a file OpenSSL can read (Windows)."""
    cafile, capath, trust, refusal = _trust()
    if not _LEAN or (cafile is None and capath is None and sys.platform == "win32"):
        return _ssl_module_context(cafile, capath, trust, refusal)
    # PROTOCOL_TLS_CLIENT: certificates required, host names checked; OpenSSL's and
    # CPython's default options and ciphers, as ssl.SSLContext(PROTOCOL_TLS_CLIENT) has.
    context = _ssl._SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
    if sys.version_info >= (3, 13):  # what create_default_context adds from 3.13 on
        context.verify_flags |= _ssl.VERIFY_X509_PARTIAL_CHAIN | _ssl.VERIFY_X509_STRICT
    try:
        if cafile is None and capath is None:
            context.set_default_verify_paths()  # ssl's load_default_certs, off Windows
        else:
            context.load_verify_locations(cafile, capath)
    except OSError as exc:
        raise ConfigurationError(f"{refusal}: {exc}") from exc
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    return context, trust


class TLSSocket:
    """A connected TCP socket with TLS over it, handshake done: the few socket methods the
    native transport calls. Timeouts are the TCP socket's (``settimeout``); a peer closing
    without close_notify reads as end of file; ``close`` sends no close_notify (as
    ``ssl.SSLSocket.close``); ``detach`` gives the descriptor up (after a fork)."""

    __slots__ = ("_sock", "_tls")

    def __init__(self, context: Any, sock: _socket.socket, hostname: str) -> None:
        # The handshake runs within the socket's current timeout (the connect timeout).
        self._sock = sock
        self._tls = context._wrap_socket(sock, False, hostname)
        self._tls.do_handshake()

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        try:
            return int(self._tls.read(nbytes or len(buffer), buffer))
        except SSLError as exc:
            if exc.args[0] == _ssl.SSL_ERROR_EOF:
                return 0
            raise

    def recv(self, nbytes: int) -> bytes:
        try:
            return bytes(self._tls.read(nbytes))
        except SSLError as exc:
            if exc.args[0] == _ssl.SSL_ERROR_EOF:
                return b""
            raise

    def sendall(self, data: Union[bytes, bytearray, memoryview]) -> None:
        with memoryview(data) as view:
            sent, size = 0, len(view)
            while sent < size:
                sent += self._tls.write(view[sent:])

    def pending(self) -> int:
        """Decrypted bytes waiting to be read."""
        return int(self._tls.pending())

    def settimeout(self, timeout: Optional[float]) -> None:
        self._sock.settimeout(timeout)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._tls = None
        self._sock.close()

    def detach(self) -> int:
        self._tls = None
        return self._sock.detach()


def wrap_tls(context: Any, sock: _socket.socket, hostname: bytes) -> Any:
    """TLS over the connected ``sock`` for ``hostname`` (ASCII, its IDNA form), handshake
    done: a :class:`TLSSocket` for an ``_ssl`` context, an ``ssl.SSLSocket`` for an
    ``ssl.SSLContext`` (given by a caller, or where ``_ssl`` has no client API)."""
    if hasattr(context, "wrap_socket"):  # ssl.SSLContext: its own sockets, its settings
        tls = context.wrap_socket(sock, server_hostname=hostname)
        sock.close()  # detached by wrap_socket: this only drops the husk
        return tls
    return TLSSocket(context, sock, hostname.decode("ascii"))
