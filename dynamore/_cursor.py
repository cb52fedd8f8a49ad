"""Page cursors: the position after a page, made opaque, bound to its query, and signed.

A *position* is the key of the last item a page returned, in DynamoDB's wire form (the table's
key attributes, plus the index's when the query reads an index)::

    {"PK": {"S": "PERSON"}, "SK": {"S": "42"}}

A *binding* is a tuple of strings naming what the cursor pages through; the proxy passes the
entity type, the index, :func:`dynamore._where.fingerprint` of the ``where`` and the sort
direction. A cursor decodes only with the same binding.

Format
    URL-safe base64 without padding of: a version byte (1), a 16-byte tag, and the position as
    compact UTF-8 JSON. The tag is HMAC-SHA256, truncated to its first 16 bytes (128 bits), of
    the version byte, the binding (each part's UTF-8 length as 4 bytes, then the part) and the
    JSON. Decoding accepts only the exact text encoding produces: base64 of another alphabet,
    padding, or unused bits set are rejected; the tag is compared in constant time
    (:func:`hmac.compare_digest`). Any failure raises :class:`~dynamore.exceptions.InvalidCursor`
    (a ValidationError), which never says which check failed.

Keys
    ``DynamoDbProxy(..., cursor_key=bytes)``, else the environment variable
    ``DYNAMORE_CURSOR_KEY`` (its UTF-8 bytes), both at least 16 bytes; see :func:`cursor_key`.
    With a key, a cursor that was altered, signed with another key, or made for another entity
    type, index, ``where`` or direction is refused. Rotating the key invalidates the cursors in
    flight (clients start over from the first page).

Without a key
    The tag is the same HMAC under a fixed, public key: a digest anyone can recompute. It still
    binds the cursor to its query (a cursor of one query is refused by another) and detects
    corruption (a truncated or mistyped cursor), but not forgery: whoever knows this format can
    write a cursor for any position. What a forged position can do is limited: the key condition
    comes from the query, never from the cursor, so it can only start the listing elsewhere
    within the same entity type and conditions (or make DynamoDB reject the request); it cannot
    reach other entity types or lift a ``where``. Set a key where clients must not choose where
    a listing resumes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Optional

from dynamore.exceptions import ConfigurationError, InvalidCursor

__all__ = [
    "ENV_KEY",
    "MAX_CURSOR_CHARS",
    "MIN_KEY_BYTES",
    "CursorCodec",
    "cursor_key",
]

ENV_KEY = "DYNAMORE_CURSOR_KEY"
MIN_KEY_BYTES = 16
#: Longest text decode looks at: positions of up to four keys of DynamoDB's maximum sizes fit.
MAX_CURSOR_CHARS = 16384

_VERSION = b"\x01"
_TAG_BYTES = 16
_PUBLIC_KEY = b"dynamore cursor without a key"  # unkeyed cursors: a digest, not a signature
_KEY_TYPES = frozenset({"S", "N", "B"})
_REFUSED = "was altered, signed with another key, or made for another query"
_MALFORMED = "is not a cursor made by dynamore"


def cursor_key(
    explicit: Optional[bytes] = None, *, environ: Optional[Mapping[str, str]] = None
) -> Optional[bytes]:
    """The key that signs cursors: ``explicit``, else ``$DYNAMORE_CURSOR_KEY`` as UTF-8 bytes,
    else None (unkeyed cursors, see the module docstring). A key shorter than 16 bytes, a
    non-bytes ``explicit`` or a set but empty variable raises ConfigurationError.

    >>> cursor_key(environ={})
    >>> cursor_key(environ={"DYNAMORE_CURSOR_KEY": "correct horse battery staple"})
    b'correct horse battery staple'
    """
    source = "cursor_key"
    if explicit is None:
        value = (os.environ if environ is None else environ).get(ENV_KEY)
        if value is None:
            return None
        source, explicit = ENV_KEY, value.encode("utf-8")
    if not isinstance(explicit, (bytes, bytearray)):
        raise ConfigurationError(f"{source} must be bytes, not {type(explicit).__name__}")
    if len(explicit) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"{source} must hold at least {MIN_KEY_BYTES} bytes (a random secret), "
            f"not {len(explicit)}"
        )
    return bytes(explicit)


class CursorCodec:
    """Encodes positions into cursors and back, for one key (None: unkeyed). Thread-safe:
    it holds nothing but the key. Build it once per proxy.

    >>> codec = CursorCodec(b"0123456789abcdef")
    >>> text = codec.encode({"PK": {"S": "PERSON"}, "SK": {"S": "42"}}, ("PERSON", "", "[]", "asc"))
    >>> codec.decode(text, ("PERSON", "", "[]", "asc"))
    {'PK': {'S': 'PERSON'}, 'SK': {'S': '42'}}
    """

    __slots__ = ("_key",)

    def __init__(self, key: Optional[bytes]) -> None:
        self._key = _PUBLIC_KEY if key is None else bytes(key)

    @property
    def keyed(self) -> bool:
        """True when cursors are signed with a secret key (forgery is detected)."""
        return self._key is not _PUBLIC_KEY

    def __repr__(self) -> str:
        return f"<CursorCodec {'keyed' if self.keyed else 'unkeyed'}>"

    def _tag(self, binding: Sequence[str], body: bytes) -> bytes:
        mac = hmac.new(self._key, _VERSION, hashlib.sha256)
        for part in binding:
            data = part.encode("utf-8", "surrogatepass")  # any str, one way
            mac.update(len(data).to_bytes(4, "big"))
            mac.update(data)
        mac.update(body)
        return mac.digest()[:_TAG_BYTES]

    def encode(self, position: Mapping[str, Mapping[str, str]], binding: Sequence[str]) -> str:
        """The cursor (URL-safe text) for ``position`` in the query named by ``binding``."""
        body = json.dumps(
            position, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
        raw = _VERSION + self._tag(binding, body) + body
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def decode(
        self, text: Any, binding: Sequence[str], *, names: Optional[Collection[str]] = None
    ) -> dict[str, dict[str, str]]:
        """The position ``text`` holds; InvalidCursor unless this codec made it for
        ``binding``. With ``names``, the position must hold exactly those attributes."""
        if not isinstance(text, str) or not text or len(text) > MAX_CURSOR_CHARS:
            raise InvalidCursor("cursor", _MALFORMED)
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidCursor("cursor", _MALFORMED) from None
        # Only the one text encode writes: no second spelling of the same bytes.
        if base64.urlsafe_b64encode(raw).rstrip(b"=") != text.encode("ascii"):
            raise InvalidCursor("cursor", _MALFORMED)
        version, tag, body = raw[:1], raw[1 : 1 + _TAG_BYTES], raw[1 + _TAG_BYTES :]
        if version != _VERSION or not hmac.compare_digest(tag, self._tag(binding, body)):
            raise InvalidCursor("cursor", _REFUSED)
        try:
            position = json.loads(body.decode("utf-8"))
        except ValueError:
            raise InvalidCursor("cursor", _MALFORMED) from None
        if not _is_position(position) or names is not None and set(position) != set(names):
            raise InvalidCursor("cursor", _MALFORMED)
        return position  # type: ignore[no-any-return]


def _is_position(value: Any) -> bool:
    """A non-empty dict of attribute name -> a one-entry AttributeValue of a key type."""
    if not isinstance(value, dict) or not value:
        return False
    for name, av in value.items():
        if not name or not isinstance(av, dict) or len(av) != 1:
            return False
        ((kind, text),) = av.items()
        if kind not in _KEY_TYPES or not isinstance(text, str):
            return False
    return True
