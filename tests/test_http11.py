"""The sans-I/O HTTP/1.1 response parser, fed scripted byte chunks (no sockets)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamore._transports.http11 import MAX_HEAD, ResponseParser
from dynamore.exceptions import TransportError


def parse(pieces: Iterable[bytes], *, eof: bool = False) -> ResponseParser:
    parser = ResponseParser()
    done = False
    for piece in pieces:
        done = parser.feed(piece)
    if eof:
        done = parser.feed_eof()
    assert done, "the parser should have a complete response"
    return parser


def splits(data: bytes) -> Iterable[list[bytes]]:
    """``data`` whole, cut at every position, and one byte at a time."""
    yield [data]
    for i in range(len(data) + 1):
        yield [data[:i], data[i:]]
    yield [data[i : i + 1] for i in range(len(data))]


CASES = [
    pytest.param(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-amz-crc32: 1\r\n\r\n{}",
        200,
        {"content-length": "2", "x-amz-crc32": "1"},
        b"{}",
        True,
        id="content-length",
    ),
    pytest.param(
        b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
        400,
        {"connection": "close", "content-length": "3"},
        b"abc",
        False,
        id="connection-close",
    ),
    pytest.param(
        b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
        200,
        {"content-length": "1"},
        b"x",
        False,
        id="http10",
    ),
    pytest.param(
        b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx",
        200,
        {"connection": "Keep-Alive", "content-length": "1"},
        b"x",
        True,
        id="http10-keep-alive",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\n",
        200,
        {"transfer-encoding": "chunked"},
        b"Wikipedia in\r\n\r\nchunks.",
        True,
        id="chunked-with-trailer",
    ),
    pytest.param(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        200,
        {"content-length": "0"},
        b"",
        True,
        id="interim-100",
    ),
    pytest.param(
        b"HTTP/1.1 204 No Content\r\nA: 1\r\nA: 2\r\n\r\n",
        204,
        {"a": "1, 2"},
        b"",
        True,
        id="no-content-repeated-header",
    ),
]


@pytest.mark.parametrize(("data", "status", "headers", "body", "keep"), CASES)
def test_every_split_gives_the_same_response(
    data: bytes, status: int, headers: dict[str, str], body: bytes, keep: bool
) -> None:
    for pieces in splits(data):
        parser = parse(pieces)
        assert (parser.status, parser.headers, parser.body, parser.keep_alive) == (
            status,
            headers,
            body,
            keep,
        ), pieces


def test_incomplete_until_the_last_byte() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    parser = ResponseParser()
    for i in range(len(data) - 1):
        assert parser.feed(data[i : i + 1]) is False
        assert not parser.complete
    assert parser.feed(data[-1:]) is True
    assert parser.complete


def test_expected_counts_the_body_still_due() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") is False
    assert parser.expected == 7
    assert parser.feed(b"defg") is False
    assert parser.expected == 3
    assert parser.feed(b"hij") is True
    assert parser.body == b"abcdefghij"
    assert parser.expected == 0


def test_body_until_eof() -> None:
    data = b"HTTP/1.1 200 OK\r\n\r\nall of it"
    for pieces in splits(data):
        parser = ResponseParser()
        for piece in pieces:
            assert parser.feed(piece) is False
        assert parser.feed_eof() is True
        assert parser.body == b"all of it"
        assert parser.keep_alive is False


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy", id="after-length"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nz",
            id="after-chunked",
        ),
        pytest.param(b"HTTP/1.1 204 No Content\r\n\r\nz", id="after-no-content"),
    ],
)
def test_bytes_beyond_the_body_spend_the_connection(extra: bytes) -> None:
    for pieces in splits(extra):
        assert parse(pieces).keep_alive is False


def test_bytes_after_completion_spend_the_connection() -> None:
    parser = parse([b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"])
    assert parser.keep_alive
    assert parser.feed(b"stray") is True
    assert parser.keep_alive is False


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"SMTP ready\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 abc\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "malformed content-length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "malformed content-length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported transfer-encoding"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n", "malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "malformed chunk size"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxyz",
            "no CRLF after a chunk",
        ),
    ],
)
def test_malformed_responses_are_transport_errors(data: bytes, message: str) -> None:
    for pieces in splits(data):
        parser = ResponseParser()
        with pytest.raises(TransportError, match=message):
            for piece in pieces:
                parser.feed(piece)


def test_head_larger_than_the_bound() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(TransportError, match="head larger than"):
        parser.feed(b"X: " + b"a" * MAX_HEAD + b"\r\n")


def test_endless_chunk_line() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(TransportError, match="line too long"):
        parser.feed(b"1" * (MAX_HEAD + 1))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "without answering"),
        (b"HTTP/1.1 200 OK\r\nContent-", "middle of the response head"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", "after 2 of 5 body bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "middle of a chunked"),
    ],
)
def test_eof_before_the_end(data: bytes, message: str) -> None:
    parser = ResponseParser()
    parser.feed(data)
    with pytest.raises(TransportError, match=message):
        parser.feed_eof()


def test_eof_after_a_complete_response_is_fine() -> None:
    parser = parse([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    assert parser.feed_eof() is True
    assert parser.body == b""


@given(
    body=st.binary(max_size=3000),
    sizes=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=8),
    chunked=st.booleans(),
)
def test_any_body_any_framing_any_cuts(
    body: bytes, sizes: list[int], cuts: list[int], chunked: bool
) -> None:
    if chunked:
        pieces, pos, i = [], 0, 0
        while pos < len(body):
            size = sizes[i % len(sizes)]
            part = body[pos : pos + size]
            pieces.append(b"%x\r\n%s\r\n" % (len(part), part))
            pos += size
            i += 1
        data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(pieces)
        data += b"0\r\n\r\n"
    else:
        data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    points = sorted({min(c, len(data)) for c in cuts})
    scripted = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
    parser = parse(scripted)
    assert parser.body == body
    assert parser.keep_alive is True
