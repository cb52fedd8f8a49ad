"""dynamore._cursor: round trips, tamper and binding detection, keys, and what an unkeyed cursor
does and does not protect (as the module docstring says)."""

from __future__ import annotations

import base64
import doctest
import hashlib
import hmac
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamore import _cursor
from dynamore._cursor import MAX_CURSOR_CHARS, CursorCodec, cursor_key
from dynamore.exceptions import ConfigurationError, InvalidCursor, ValidationError

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
BINDING = ("PERSON", "GSI1", '[["age",">=","{\\"N\\":\\"N213118\\"}"]]', "asc")
POSITION = {
    "PK": {"S": "PERSON"},
    "SK": {"S": "42"},
    "GSI1PK": {"S": "PERSON\x01Sfemale\x01"},
    "GSI1SK": {"S": "N213118\x01"},
}

positions = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(
        st.builds(lambda t: {"S": t}, st.text(max_size=40)),
        st.builds(lambda n: {"N": str(n)}, st.integers()),
        st.builds(lambda b: {"B": base64.b64encode(b).decode()}, st.binary(max_size=20)),
    ),
    min_size=1,
    max_size=4,
)
bindings = st.lists(st.text(max_size=12), max_size=5).map(tuple)
codecs = st.sampled_from([CursorCodec(KEY), CursorCodec(None)])


def test_doctests() -> None:
    assert doctest.testmod(_cursor).failed == 0


def test_invalid_cursor_is_a_validation_error() -> None:
    assert issubclass(InvalidCursor, ValidationError) and issubclass(InvalidCursor, ValueError)


@given(codecs, positions, bindings)
def test_round_trip(codec: CursorCodec, position: dict[str, Any], binding: tuple[str, ...]) -> None:
    text = codec.encode(position, binding)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", text)  # URL-safe, no padding
    assert codec.decode(text, binding) == position
    assert codec.decode(text, list(binding), names=set(position)) == position


def test_cursors_are_compact() -> None:
    text = CursorCodec(KEY).encode(POSITION, BINDING)
    body = json.dumps(POSITION, separators=(",", ":"), ensure_ascii=False).encode()
    # one version byte and a 16-byte tag on top of the compact JSON, in base64
    assert len(text) == -(-(1 + 16 + len(body)) * 4 // 3)


@given(codecs, positions, bindings, st.data())
def test_changing_any_character_is_detected(
    codec: CursorCodec, position: dict[str, Any], binding: tuple[str, ...], data: st.DataObject
) -> None:
    text = codec.encode(position, binding)
    at = data.draw(st.integers(0, len(text) - 1))
    other = data.draw(st.sampled_from("ABCabc019-_=+/ .é").filter(lambda c: c != text[at]))
    with pytest.raises(InvalidCursor):
        codec.decode(text[:at] + other + text[at + 1 :], binding)


@given(codecs, positions, bindings, st.data())
def test_flipping_any_bit_is_detected(
    codec: CursorCodec, position: dict[str, Any], binding: tuple[str, ...], data: st.DataObject
) -> None:
    raw = bytearray(base64.urlsafe_b64decode(codec.encode(position, binding) + "=="))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidCursor):
        codec.decode(base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode(), binding)


@given(codecs, positions, bindings, bindings)
def test_a_cursor_belongs_to_its_binding(
    codec: CursorCodec, position: dict[str, Any], binding: tuple[str, ...], other: tuple[str, ...]
) -> None:
    text = codec.encode(position, binding)
    if other == binding:
        assert codec.decode(text, other) == position
    else:
        with pytest.raises(InvalidCursor):
            codec.decode(text, other)


@pytest.mark.parametrize(
    "other",
    [
        ("PERSONS", "GSI1", BINDING[2], "asc"),  # another entity type
        ("PERSON", "", BINDING[2], "asc"),  # the table instead of the index
        ("PERSON", "GSI1", "[]", "asc"),  # another where
        ("PERSON", "GSI1", BINDING[2], "desc"),  # the other direction
        ("PERSONGSI1", "", BINDING[2], "asc"),  # the same characters, split otherwise
        BINDING[:3],
        (*BINDING, ""),
    ],
)
def test_another_query_is_refused(other: tuple[str, ...]) -> None:
    for codec in (CursorCodec(KEY), CursorCodec(None)):
        with pytest.raises(InvalidCursor) as info:
            codec.decode(codec.encode(POSITION, BINDING), other)
        assert info.value.path == "cursor"
        assert "made for another query" in info.value.rule


def test_another_key_or_no_key_is_refused() -> None:
    keyed, unkeyed = CursorCodec(KEY), CursorCodec(None)
    for made, reader in [
        (keyed, CursorCodec(OTHER_KEY)),
        (keyed, unkeyed),
        (unkeyed, keyed),
    ]:
        with pytest.raises(InvalidCursor):
            reader.decode(made.encode(POSITION, BINDING), BINDING)
    assert CursorCodec(bytes(KEY)).decode(keyed.encode(POSITION, BINDING), BINDING) == POSITION


def forge(key: bytes, position: Any, binding: tuple[str, ...], body: bytes = b"") -> str:
    """A cursor written from the documented format alone, by someone who knows ``key``."""
    body = body or json.dumps(position).encode()
    mac = hmac.new(key, b"\x01", hashlib.sha256)
    for part in binding:
        mac.update(len(part.encode()).to_bytes(4, "big") + part.encode())
    mac.update(body)
    raw = b"\x01" + mac.digest()[:16] + body
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_what_a_key_protects_against_and_what_an_unkeyed_digest_does_not() -> None:
    chosen = {"PK": {"S": "PERSON"}, "SK": {"S": "999"}}
    # without a key the tag is a public digest: anyone can write a valid cursor ...
    forged = forge(_cursor._PUBLIC_KEY, chosen, BINDING)
    assert CursorCodec(None).decode(forged, BINDING) == chosen
    # ... but not one that a keyed codec accepts, short of knowing its key
    with pytest.raises(InvalidCursor):
        CursorCodec(KEY).decode(forged, BINDING)
    assert CursorCodec(KEY).decode(forge(KEY, chosen, BINDING), BINDING) == chosen


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        42,
        b"AQ",
        "A" * (MAX_CURSOR_CHARS + 1),
        "AQID=",  # padding
        "AQ+/",  # the standard alphabet
        "AQ ID",
        "AQé",
        "A",  # no base64 ends this way
        "AR",  # AQ with an unused bit set: the same bytes, another spelling
    ],
)
def test_malformed_cursors(text: Any) -> None:
    with pytest.raises(InvalidCursor) as info:
        CursorCodec(None).decode(text, BINDING)
    assert info.value.path == "cursor"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"{}",
        b'{"PK": "PERSON"}',
        b'{"PK": {"S": 1}}',
        b'{"PK": {"L": []}}',
        b'{"PK": {"S": "a", "N": "1"}}',
        b'{"": {"S": "a"}}',
    ],
)
def test_signed_but_malformed_positions_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidCursor):
        CursorCodec(KEY).decode(forge(KEY, None, BINDING, body), BINDING)


def test_names_must_be_the_querys_key_attributes() -> None:
    codec = CursorCodec(KEY)
    text = codec.encode({"PK": {"S": "P"}, "SK": {"S": "1"}}, BINDING)
    assert codec.decode(text, BINDING, names=("PK", "SK")) == {"PK": {"S": "P"}, "SK": {"S": "1"}}
    for names in (("PK",), ("PK", "SK", "GSI1PK"), ("PK", "XX")):
        with pytest.raises(InvalidCursor):
            codec.decode(text, BINDING, names=names)


def test_cursor_key_sources() -> None:
    assert cursor_key(None, environ={}) is None
    assert cursor_key(KEY, environ={"DYNAMORE_CURSOR_KEY": "x" * 40}) == KEY  # explicit first
    assert cursor_key(environ={"DYNAMORE_CURSOR_KEY": "é" * 8}) == "é".encode() * 8
    assert cursor_key(bytearray(KEY), environ={}) == KEY


@pytest.mark.parametrize(
    ("explicit", "environ", "message"),
    [
        (b"short", {}, "cursor_key must hold at least 16 bytes"),
        ("a string key of 32 characters ..", {}, "cursor_key must be bytes, not str"),
        (None, {"DYNAMORE_CURSOR_KEY": ""}, "DYNAMORE_CURSOR_KEY must hold at least 16 bytes"),
        (None, {"DYNAMORE_CURSOR_KEY": "x" * 15}, "DYNAMORE_CURSOR_KEY must hold at least 16"),
    ],
)
def test_bad_keys_are_configuration_errors(
    explicit: Any, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        cursor_key(explicit, environ=environ)


def test_the_key_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = CursorCodec(KEY)
    assert repr(codec) == "<CursorCodec keyed>" and codec.keyed
    assert repr(CursorCodec(None)) == "<CursorCodec unkeyed>" and not CursorCodec(None).keyed
    assert "kkkk" not in repr(codec)
    monkeypatch.setenv("DYNAMORE_CURSOR_KEY", "from the environment, 32 bytes..")
    assert cursor_key() == b"from the environment, 32 bytes.."
