"""The table an entity set needs: key schema, the indexes the entities declare, billing.

:func:`table_definition` gives the ``CreateTable`` request for a table that holds every entity
of a set (single-table design), to create it with any client or to copy into CloudFormation.
The request itself is built by :func:`dynamore._payloads.create_table_payload`, the builder
``Client.create_table`` uses too; this module only reads the entities.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dynamore._payloads import create_table_payload
from dynamore.exceptions import ConfigurationError

if TYPE_CHECKING:
    from dynamore.entity import Entity

__all__ = ["DEFAULT_KEYS", "table_definition"]

#: The key attributes of a table made for no entity in particular (dynamore's defaults).
DEFAULT_KEYS = ("PK", "SK")


def table_definition(table_name: str, entities: Iterable[type[Entity]]) -> dict[str, Any]:
    """The ``CreateTable`` request for a table holding ``entities``: their key attributes
    (strings, partition + sort), one global secondary index for every index they declare
    (``INDEXES``: string keys ``<name>PK``/``<name>SK``, projecting all attributes) and
    on-demand billing.

    >>> table_definition("MyTable", [Person])["KeySchema"]     # doctest: +SKIP
    [{'AttributeName': 'PK', 'KeyType': 'HASH'}, {'AttributeName': 'SK', 'KeyType': 'RANGE'}]

    With no entities, the table has dynamore's default keys ``PK``/``SK``. Entities that
    disagree on the key attribute names raise :class:`ConfigurationError`; an index declared
    by several entities is one index of the table.
    """
    keys: tuple[str, ...] = ()
    owner = ""
    indexes: dict[str, dict[str, str]] = {}
    for entity in entities:
        # Entity checks at class creation that pr_keys names two attributes and that every
        # index has sort attributes, so every key here has a hash and a range part.
        entity_keys = tuple(entity.pr_keys())
        if keys and entity_keys != keys:
            raise ConfigurationError(
                f"{entity.__name__} keys {list(entity_keys)} differ from {owner}'s {list(keys)}: "
                "one table has one key schema"
            )
        keys, owner = entity_keys, entity.__name__
        for name, spec in entity.index_specs().items():
            indexes[name] = {"name": name, "pk": spec.partition_key, "sk": spec.sort_key}
    pk, sk = keys or DEFAULT_KEYS
    return create_table_payload(
        table_name,
        pk=pk,
        sk=sk,
        pk_type="S",
        sk_type="S",
        indexes=[indexes[name] for name in sorted(indexes)],
    )
