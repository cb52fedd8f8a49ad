"""HTTP/1.1 response parsing without I/O: bytes in, "need more" or a complete response out.

:class:`ResponseParser` is fed whatever the connection delivered and says whether the response
is complete, so a blocking socket loop and an asyncio loop share one parser, and tests feed it
scripted chunks split at every position (the way h11 separates protocol from I/O):

>>> parser = ResponseParser()
>>> parser.feed(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\n{")
False
>>> parser.feed(b"}")
True
>>> parser.status, parser.headers, parser.body, parser.keep_alive
(200, {'content-length': '2'}, b'{}', True)

The usual DynamoDB answer arrives in one read: then the head is decoded and split once and the
body sliced out, with no per-line work. The rare shapes (a body in many reads, chunked
transfer coding, a body that runs until the server closes) go through the slower states.

A response is *reusable* (``keep_alive``) only when its framing was exact: HTTP/1.1 without
``Connection: close`` (HTTP/1.0 only with ``keep-alive``), a known body length, and no byte
beyond the body. Anything else means the stream is out of step, so the connection is spent.
Malformed input raises :class:`~dynamore.exceptions.TransportError`.

:func:`request_head` is the other direction: the bytes of a request's head, ready to send.
"""

from __future__ import annotations

from dynamore.exceptions import TransportError, ValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Union

__all__ = ["MAX_HEAD", "ResponseParser", "request_head"]

#: The largest response head accepted (DynamoDB's are a few hundred bytes).
MAX_HEAD = 65536

_HEX_DIGITS = b"0123456789abcdefABCDEF"


def request_head(headers: dict[str, str], content_length: int) -> bytes:
    """The head of ``POST /`` with ``headers`` as given (already signed), in their order, and
    ``Content-Length``; a header that would break the framing is a ValidationError.

    >>> request_head({"Host": "h:1"}, 2)
    b'POST / HTTP/1.1\\r\\nHost: h:1\\r\\nContent-Length: 2\\r\\n\\r\\n'
    """
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    # One count each over the joined text: a CR or LF inside a name or value shows as extra.
    if lines.count("\n") != len(headers) or lines.count("\r") != len(headers):
        raise ValidationError("headers", "a header name or value contains CR or LF")
    try:
        return f"POST / HTTP/1.1\r\n{lines}Content-Length: {content_length}\r\n\r\n".encode(
            "latin-1"
        )
    except UnicodeEncodeError:
        raise ValidationError("headers", "a header is not latin-1 text") from None


# Parser states.
_HEAD = 0
_LENGTH = 1  # a Content-Length body, ``_remaining`` bytes still to come
_CHUNK_SIZE = 2  # the next chunk-size line
_CHUNK_DATA = 3  # ``_remaining`` bytes of the current chunk
_CHUNK_END = 4  # the CRLF after a chunk's data
_TRAILER = 5  # trailer lines after the last chunk, ended by an empty line
_UNTIL_EOF = 6  # no framing: the body runs until the server closes
_DONE = 7


class ResponseParser:
    """Parses one HTTP/1.1 response; a new parser for every response.

    :meth:`feed` returns True once the response is complete; then :attr:`status`,
    :attr:`headers` (names lower-cased, repeated fields joined with ``", "``), :attr:`body` and
    :attr:`keep_alive` are set. :meth:`feed_eof` tells the parser the server closed the
    connection. :attr:`expected` says how many more body bytes are known to be due (a reader may
    use it to size one buffer), 0 when unknown.
    """

    # Defaults on the class and no __init__: a parser is built for every response, on the hot
    # path, and this way building one runs no Python code (measured with callgrind: a slotted
    # __init__ setting them all cost ~1000 instructions of a ~40000-instruction parse).
    # Parsing sets them on the instance.
    status = 0
    version = ""
    headers: dict[str, str]  # set with the head
    body = b""
    keep_alive = False
    _buf = b""
    _remaining = 0
    _state = _HEAD
    _chunks: bytearray  # made by the states that collect a body piece by piece

    @property
    def complete(self) -> bool:
        """True once the whole response has been parsed."""
        return self._state == _DONE

    @property
    def expected(self) -> int:
        """Body bytes known to be still due (Content-Length framing), else 0."""
        return self._remaining if self._state == _LENGTH else 0

    def feed(self, data: Union[bytes, bytearray]) -> bool:
        """Take the next bytes from the connection; True when the response is complete.

        While :attr:`expected` is set, ``data`` may be a ``bytearray`` the reader filled in
        place: the body is then assembled with one copy.
        """
        state = self._state
        if state == _HEAD and not self._buf and type(data) is bytes:
            return self._parse_head(data)  # the usual first feed: no copy, no more checks
        if state == _DONE:
            if data:
                self.keep_alive = False  # bytes nobody asked for: the stream is out of step
            return True
        if state == _LENGTH:
            return self._feed_length(data)
        if type(data) is not bytes:
            data = bytes(data)
        if state == _UNTIL_EOF:
            self._chunks += data
            return False
        self._buf = self._buf + data if self._buf else data
        if state == _HEAD:
            return self._parse_head(self._buf)
        return self._parse_chunked()

    def feed_eof(self) -> bool:
        """The server closed the connection: True when that ends the response properly.

        A body framed by the close is complete here; a close anywhere else raises
        :class:`~dynamore.exceptions.TransportError` naming what was cut short.
        """
        state = self._state
        if state == _DONE:
            return True
        if state == _UNTIL_EOF:
            self.body = bytes(self._chunks)
            self._chunks = bytearray()
            self._state = _DONE
            self.keep_alive = False
            return True
        if state == _HEAD:
            if not self._buf:
                raise TransportError("the server closed the connection without answering")
            raise TransportError("connection closed in the middle of the response head")
        if state == _LENGTH:
            got = len(self._chunks)
            raise TransportError(
                f"connection closed after {got} of {got + self._remaining} body bytes"
            )
        raise TransportError("connection closed in the middle of a chunked response")

    # -- head ----------------------------------------------------------------------------------

    def _parse_head(self, buf: bytes) -> bool:  # noqa: C901, PLR0915 - one call frames the usual answer (measured)
        """Parse the head at the start of ``buf`` (all received so far), then frame the body:
        what the head says about it decides the next state."""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    raise TransportError(f"response head larger than {MAX_HEAD // 1024} KiB")
                self._buf = buf
                return False
            # One decode and one split for the whole head: far cheaper than line by line.
            lines = buf[:end].decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            try:
                status = int(rest[:3])
            except ValueError:
                status = 0
            if not version.startswith("HTTP/1.") or status < 100:
                raise TransportError(f"malformed status line {lines[0][:80]!r}")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    raise TransportError(f"malformed header line {line[:80]!r}")
                name = name.lower()
                value = value.strip()
                if name in headers:
                    headers[name] += ", " + value
                else:
                    headers[name] = value
            buf = buf[end + 4 :]
            if status >= 200 or status == 101:
                break
            # A 1xx interim answer (100 Continue, 103 Early Hints): the real one follows.
        self.status = status
        self.version = version
        self.headers = headers
        connection = headers.get("connection")
        if version == "HTTP/1.1":
            self.keep_alive = connection is None or "close" not in connection.lower()
        else:
            self.keep_alive = connection is not None and "keep-alive" in connection.lower()
        # buf now holds what followed the head.
        if status in (204, 304):
            return self._finish(b"", bool(buf))
        encoding = headers.get("transfer-encoding")
        if encoding is not None:
            if "chunked" not in encoding.lower():
                raise TransportError(f"unsupported transfer-encoding {encoding!r}")
            self._state = _CHUNK_SIZE
            self._buf = buf
            self._chunks = bytearray()
            return self._parse_chunked()
        length_text = headers.get("content-length")
        if length_text is None:
            self._state = _UNTIL_EOF
            self._chunks = bytearray(buf)
            return False
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0:
            raise TransportError(f"malformed content-length {length_text[:40]!r}")
        if len(buf) == length:  # the usual case: the whole body came with the head
            self.body = buf
            self._state = _DONE
            return True
        if len(buf) > length:
            return self._finish(buf[:length], True)
        self._state = _LENGTH
        self._remaining = length - len(buf)
        self._chunks = bytearray(buf)
        return False

    # -- bodies ----------------------------------------------------------------------------------

    def _feed_length(self, data: Union[bytes, bytearray]) -> bool:
        remaining = self._remaining
        size = len(data)
        if size < remaining:
            self._chunks += data
            self._remaining = remaining - size
            return False
        # The last piece: one join copies what came before and this piece into the body.
        last = data if size == remaining else memoryview(data)[:remaining]
        body = b"".join((self._chunks, last))
        self._chunks = bytearray()
        self._remaining = 0
        return self._finish(body, size > remaining)

    def _parse_chunked(self) -> bool:
        buf = self._buf
        pos = 0
        state = self._state
        chunks = self._chunks
        while True:
            if state == _CHUNK_DATA:
                # Take what there is of the chunk, so a large chunk costs no re-copying.
                take = min(self._remaining, len(buf) - pos)
                chunks += buf[pos : pos + take]
                pos += take
                self._remaining -= take
                if self._remaining:
                    break
                state = _CHUNK_END
                continue
            if state == _CHUNK_END:
                if len(buf) - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise TransportError("malformed chunked response: no CRLF after a chunk")
                pos += 2
                state = _CHUNK_SIZE
                continue
            end = buf.find(b"\r\n", pos)
            if end < 0:
                if len(buf) - pos > MAX_HEAD:
                    raise TransportError("malformed chunked response: line too long")
                break
            line = buf[pos:end]
            pos = end + 2
            if state == _TRAILER:
                if not line:  # the empty line that ends the trailer: done
                    self._buf = b""
                    body = bytes(chunks)
                    self._chunks = bytearray()
                    return self._finish(body, len(buf) > pos)
                continue
            size_text = line.split(b";", 1)[0].strip()
            # Hex digits only: int() alone would also take a sign, "0x" or underscores.
            if not size_text or size_text.strip(_HEX_DIGITS):
                raise TransportError(f"malformed chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                state = _TRAILER
            else:
                state = _CHUNK_DATA
                self._remaining = size
        self._buf = buf[pos:]
        self._state = state
        return False

    def _finish(self, body: bytes, extra: bool) -> bool:
        self.body = body
        self._state = _DONE
        if extra:
            self.keep_alive = False  # bytes beyond the body: never reuse this stream
        return True
