"""Write sharding: the items of one entity type spread over N partitions.

DynamoDB serves about 1,000 write units (3,000 read units) per second from one partition.
An entity type keeps all its items under one partition key value (its title) unless it sets
``PARTITION_SHARDS = N``; then the layout, which other tools may rely on, is:

- the partition key value is ``f"{title}#{shard}"`` (``title``: what
  :meth:`~dynamore.entity.Entity.partition_value` returns, the schema's title by default),
  with ``shard`` from 0 to N - 1;
- ``shard`` is computed from the item's sort key value ``SK`` (the stored text, as the
  type's ``SORT_KEY_FORMAT`` makes it from the id)::

      int.from_bytes(hashlib.blake2b(SK.encode("utf-8"), digest_size=8).digest(), "big") % N

  a stable hash (never Python's ``hash()``, which changes per process), so any process in
  any language finds an item's partition from its id alone, and ids spread evenly whatever
  their pattern (ever-increasing ids included);
- the sort key and every other attribute are as without sharding; secondary indexes are
  keyed by their own attributes and are not sharded.

Reading one item stays one request. Listing, ``query`` and ``iter`` read the N partitions
concurrently and merge them in sort key order (see :mod:`dynamore._query`).

Changing N moves items between partitions: reshard by loading every item from the class with
the old N into one with the new N and another partition value (``PERSON#3`` exists in both
layouts), then deleting the old items (README, "Write sharding").

>>> shard_of("42", 8), partition_for("PERSON", "42", 8)
(2, 'PERSON#2')
>>> partitions("PERSON", 3)
('PERSON#0', 'PERSON#1', 'PERSON#2')
"""

from __future__ import annotations

import hashlib
from typing import Any, Optional

from dynamore.exceptions import SchemaError

__all__ = ["MAX_SHARDS", "check_shards", "partition_for", "partitions", "shard_of"]

#: The most partitions one entity type may be spread over (a listing reads them all).
MAX_SHARDS = 256
SEPARATOR = "#"


def shard_of(sort_value: str, shards: int) -> int:
    """The shard (0 to ``shards`` - 1) of the item whose sort key value is ``sort_value``."""
    digest = hashlib.blake2b(sort_value.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def partition_for(base: str, sort_value: str, shards: int) -> str:
    """The partition key value of an item of a type sharded ``shards`` ways."""
    return f"{base}{SEPARATOR}{shard_of(sort_value, shards)}"


def partitions(base: str, shards: Optional[int]) -> tuple[str, ...]:
    """Every partition key value of a type: ``(base,)`` when it is not sharded."""
    if shards is None:
        return (base,)
    return tuple(f"{base}{SEPARATOR}{shard}" for shard in range(shards))


def check_shards(value: Any, owner: str) -> Optional[int]:
    """``PARTITION_SHARDS`` checked: None, or an int from 1 to :data:`MAX_SHARDS`."""
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= MAX_SHARDS:
        raise SchemaError(
            f"{owner}.PARTITION_SHARDS",
            f"must be None or an integer from 1 to {MAX_SHARDS}, not {value!r}",
        )
    return value
