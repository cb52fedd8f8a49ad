"""Attributes the store keeps for an entity type: its version, its timestamps, its expiry.

An entity class opts in with ``VERSION_ATTRIBUTE``, ``TIMESTAMPS`` (created, updated) and
``TTL_ATTRIBUTE``; :func:`parse_managed` checks them once, when the class is created, and
:class:`Managed` gives each verb the pieces of its one request:

- the version: ``post`` stores 1, ``put`` and ``patch`` ``SET v = if_not_exists(v, 0) + 1``
  (no read), ``if_match=N`` adds the condition ``v = N``. An increment is the one write a
  resent request would apply twice, so every versioned ``put``/``patch`` also stores a random
  write token (:data:`WRITE_TOKEN_ATTRIBUTE`) and, without ``if_match``, is conditioned on the
  stored token differing from its own: a resent request fails its condition instead of bumping
  the version again, and the item the failed condition returns, carrying that token, tells the
  verb its earlier attempt was applied.
- timestamps: ISO 8601 UTC with milliseconds and ``Z`` (``2024-05-01T12:00:00.000Z``), from one
  clock reading per call; ``created`` written by ``post`` only, ``updated`` by every write.
- expiry: the TTL attribute holds epoch seconds. DynamoDB deletes expired items only
  eventually, so a live item is one without the attribute, with a non-number in it (DynamoDB's
  TTL ignores those too), or with a time after now; writes and listings say so in their
  conditions and filters, reads of one item check it on what they read.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Optional

from dynamore.exceptions import SchemaError, ValidationError

__all__ = [
    "NOT_MANAGED",
    "WRITE_TOKEN_ATTRIBUTE",
    "Managed",
    "is_expired",
    "new_token",
    "parse_managed",
    "timestamp",
]

#: Where a versioned write leaves its token (never returned by the verbs).
WRITE_TOKEN_ATTRIBUTE = "dynamore:write"

Item = dict[str, Any]

# Placeholders of the managed attributes; the verbs' own are #pk, #a.., #r.., #u.., #n...
_VERSION, _CREATED, _UPDATED, _TTL, _TOKEN = "#mv", "#mc", "#mu", "#mx", "#mw"
_LIVE = f"(attribute_not_exists({_TTL}) OR NOT attribute_type({_TTL}, :mxn) OR {_TTL} > :mnow)"
_EXPIRED = f"(attribute_type({_TTL}, :mxn) AND {_TTL} <= :mnow)"


def timestamp(now: float) -> str:
    """``now`` (epoch seconds) as ISO 8601 UTC with milliseconds and ``Z``.

    >>> timestamp(0.5)
    '1970-01-01T00:00:00.500Z'
    """
    seconds = math.floor(now)
    millis = min(int(round((now - seconds) * 1000)), 999)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def new_token() -> str:
    """A random write token (16 hex digits: a collision is not a practical concern)."""
    return os.urandom(8).hex()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def is_expired(item: Item, ttl: str, now: float) -> bool:
    """Does ``item`` hold an expiry time (a number) at or before ``now``?"""
    value: Any = item.get(ttl)
    return _is_number(value) and value <= now


@dataclass(frozen=True)
class Managed:
    """The managed attributes of one entity class (None where it does not opt in)."""

    version: Optional[str] = None
    created: Optional[str] = None
    updated: Optional[str] = None
    ttl: Optional[str] = None
    #: The attributes the store owns (version, timestamps, write token): dropped from
    #: callers' data, never removed by a ``put``.
    owned: frozenset[str] = frozenset()
    #: What the stored item holds that the verbs never return (the write token).
    hidden: frozenset[str] = frozenset()

    @property
    def clock(self) -> bool:
        """Does a write of this class need the time (timestamps or expiry)?"""
        return self.updated is not None or self.ttl is not None

    @property
    def stamps(self) -> bool:
        """Does ``put``/``patch`` set something even when the data changes nothing?"""
        return self.version is not None or self.updated is not None

    def without_owned(self, data: Item) -> Item:
        """``data`` without the attributes the store owns."""
        if self.owned and not self.owned.isdisjoint(data):
            return {k: v for k, v in data.items() if k not in self.owned}
        return data

    def view(self, item: Item) -> Item:
        """The version and timestamps ``item`` holds (what the verbs return besides data)."""
        return {k: item[k] for k in (self.version, self.created, self.updated) if k in item}

    def after_write(self, old: Item, now: float) -> Item:
        """The version and timestamps a ``put`` or ``patch`` leaves, from the item before it."""
        out: Item = {}
        if self.version is not None:
            out[self.version] = (old.get(self.version) or 0) + 1
        if self.created is not None and old.get(self.created) is not None:
            out[self.created] = old[self.created]
        if self.updated is not None:
            out[self.updated] = timestamp(now)
        return out

    def writable(self, data: Item) -> Item:
        """``data`` without the attributes the store owns, its expiry time checked."""
        data = self.without_owned(data)
        ttl = self.ttl
        if ttl is not None and ttl in data:
            value = data[ttl]
            if not _is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
                raise ValidationError(ttl, "the expiry time must be a number of epoch seconds")
        return data

    def stamp_new(self, item: Item, now: float) -> None:
        """What ``post`` adds to the item it creates: version 1 and both timestamps."""
        if self.version is not None:
            item[self.version] = 1
        if self.updated is not None:
            stamp = timestamp(now)
            item[self.updated] = stamp
            if self.created is not None:
                item[self.created] = stamp

    def create_condition(self, names: dict[str, str], values: dict[str, Any], now: float) -> str:
        """``post``'s condition: the id is free, or its item has expired."""
        if self.ttl is None:
            return "attribute_not_exists(#pk)"
        self._expiry(names, values, now)
        return "attribute_not_exists(#pk) OR " + _EXPIRED

    def sets(
        self,
        names: dict[str, str],
        values: dict[str, Any],
        now: float,
        token: Optional[str],
    ) -> tuple[str, ...]:
        """The ``SET`` clauses of a ``put`` or ``patch``: version + 1, updated time, token."""
        sets = []
        if self.version is not None:
            names[_VERSION] = self.version
            values[":m0"], values[":m1"] = 0, 1
            sets.append(f"{_VERSION} = if_not_exists({_VERSION}, :m0) + :m1")
        if self.updated is not None:
            names[_UPDATED] = self.updated
            values[":mu"] = timestamp(now)
            sets.append(f"{_UPDATED} = :mu")
        if token is not None:
            names[_TOKEN] = WRITE_TOKEN_ATTRIBUTE
            values[":mw"] = token
            sets.append(f"{_TOKEN} = :mw")
        return tuple(sets)

    def condition(
        self,
        names: dict[str, str],
        values: dict[str, Any],
        *,
        now: float,
        if_match: Optional[int],
        token: Optional[str],
    ) -> str:
        """The condition of a ``put``, ``patch`` or ``delete``: the item exists and has not
        expired, carries version ``if_match`` when given, and (``token``) is not this very
        write resent."""
        parts = ["attribute_exists(#pk)"]
        if if_match is not None:
            names[_VERSION] = self.version or ""
            values[":mif"] = if_match
            parts.append(f"{_VERSION} = :mif")
        elif token is not None:
            names[_TOKEN] = WRITE_TOKEN_ATTRIBUTE
            values[":mw"] = token
            parts.append(f"{_TOKEN} <> :mw")
        if self.ttl is not None:
            self._expiry(names, values, now)
            parts.append(_LIVE)
        return " AND ".join(parts)

    def live_filter(self, names: dict[str, str], values: dict[str, Any], now: float) -> str:
        """A listing's filter that keeps the items that have not expired at ``now``."""
        self._expiry(names, values, now)
        return _LIVE

    def _expiry(self, names: dict[str, str], values: dict[str, Any], now: float) -> None:
        names[_TTL] = self.ttl or ""
        values[":mxn"] = "N"
        values[":mnow"] = now

    def check_if_match(self, if_match: Any, owner: str) -> Optional[int]:
        """``if_match`` if it is None or a version number this class can hold."""
        if if_match is None:
            return None
        if self.version is None:
            raise ValidationError(
                "if_match", f"{owner} has no VERSION_ATTRIBUTE: there is no version to match"
            )
        if isinstance(if_match, bool) or not isinstance(if_match, int) or if_match < 1:
            raise ValidationError("if_match", f"must be a version (an int >= 1), not {if_match!r}")
        return if_match


NOT_MANAGED = Managed()


def parse_managed(
    *,
    version: Any,
    timestamps: Any,
    ttl: Any,
    reserved: tuple[str, ...],
    owner: str,
) -> Managed:
    """Check an entity class's ``VERSION_ATTRIBUTE``, ``TIMESTAMPS`` and ``TTL_ATTRIBUTE``
    (``reserved``: its key and id attribute names) and describe them; SchemaError if not."""
    names: list[tuple[str, str]] = []
    if version is not None:
        names.append(("VERSION_ATTRIBUTE", version))
    created = updated = None
    if timestamps is not None:
        if (
            not isinstance(timestamps, (tuple, list))
            or len(timestamps) != 2
            or not all(isinstance(n, str) and n for n in timestamps)
        ):
            raise SchemaError(f"{owner}.TIMESTAMPS", "must be two names: (created, updated)")
        created, updated = timestamps
        names += [("TIMESTAMPS", created), ("TIMESTAMPS", updated)]
    if ttl is not None:
        names.append(("TTL_ATTRIBUTE", ttl))
    seen: set[str] = set()
    for option, name in names:
        if not isinstance(name, str) or not name:
            raise SchemaError(f"{owner}.{option}", "must be an attribute name or None")
        if name in reserved or name == WRITE_TOKEN_ATTRIBUTE:
            raise SchemaError(f"{owner}.{option}", f"{name!r} is a key or the id attribute")
        if name in seen:
            raise SchemaError(f"{owner}.{option}", f"{name!r} is named twice")
        seen.add(name)
    if not names:
        return NOT_MANAGED
    hidden = frozenset({WRITE_TOKEN_ATTRIBUTE}) if version is not None else frozenset()
    owned = frozenset(n for n in (version, created, updated) if n is not None) | hidden
    return Managed(version, created, updated, ttl, owned, hidden)
