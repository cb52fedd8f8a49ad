"""The table an entity set needs: key schema, the indexes the entities declare, billing.

:func:`table_definition` gives the ``CreateTable`` request for a table that holds every entity
of a set (single-table design), to create it with any client or to copy into CloudFormation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dynamore.exceptions import ConfigurationError

if TYPE_CHECKING:
    from dynamore.entity import Entity

__all__ = ["DEFAULT_KEYS", "index_attribute_names", "table_definition"]

#: The key attributes of a table made for no entity in particular (dynamore's defaults).
DEFAULT_KEYS = ("PK", "SK")


def index_attribute_names(index_name: str) -> tuple[str, str]:
    """The partition and sort key attributes of the global secondary index ``index_name``:
    ``(f"{index_name}PK", f"{index_name}SK")``, strings shared by every entity type."""
    return f"{index_name}PK", f"{index_name}SK"


def table_definition(table_name: str, entities: Iterable[type[Entity]]) -> dict[str, Any]:
    """The ``CreateTable`` request for a table holding ``entities``: their key attributes
    (strings, partition + sort), one global secondary index for every index they declare
    (``INDEXES``; projecting all attributes) and on-demand billing.

    >>> table_definition("MyTable", [Person])["KeySchema"]     # doctest: +SKIP
    [{'AttributeName': 'PK', 'KeyType': 'HASH'}, {'AttributeName': 'SK', 'KeyType': 'RANGE'}]

    With no entities, the table has dynamore's default keys ``PK``/``SK``. Entities that
    disagree on the key attribute names raise :class:`ConfigurationError`; an index declared
    by several entities is one index of the table.
    """
    keys: tuple[str, ...] = ()
    owner = ""
    indexes: dict[str, bool] = {}  # index name -> has a sort key
    for entity in entities:
        entity_keys = tuple(entity.pr_keys())
        if keys and entity_keys != keys:
            raise ConfigurationError(
                f"{entity.__name__} keys {list(entity_keys)} differ from {owner}'s {list(keys)}: "
                "one table has one key schema"
            )
        keys, owner = entity_keys, entity.__name__
        for name, spec in (getattr(entity, "INDEXES", None) or {}).items():
            indexes[name] = indexes.get(name, False) or bool(spec.get("sort"))
    keys = keys or DEFAULT_KEYS
    attributes = {name: "S" for name in keys}
    key_schema = [{"AttributeName": keys[0], "KeyType": "HASH"}]
    if len(keys) > 1:
        key_schema.append({"AttributeName": keys[1], "KeyType": "RANGE"})
    gsis = []
    for name, has_sort in sorted(indexes.items()):
        pk, sk = index_attribute_names(name)
        attributes[pk] = "S"
        index_schema = [{"AttributeName": pk, "KeyType": "HASH"}]
        if has_sort:
            attributes[sk] = "S"
            index_schema.append({"AttributeName": sk, "KeyType": "RANGE"})
        gsis.append(
            {
                "IndexName": name,
                "KeySchema": index_schema,
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    definition: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind} for name, kind in attributes.items()
        ],
        "KeySchema": key_schema,
        "BillingMode": "PAY_PER_REQUEST",
    }
    if gsis:
        definition["GlobalSecondaryIndexes"] = gsis
    return definition
