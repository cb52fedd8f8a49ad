"""The table check shared by ``DynamoDbProxy`` and the bulk loader: does a table's key schema
match an entity's ``pr_keys()``? One ``DescribeTable`` per table per process (cached)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Optional

from dynamore.exceptions import ConfigurationError, ServiceError

if TYPE_CHECKING:
    from dynamore._client import Client
    from dynamore.entity import Entity

__all__ = ["check_table_keys", "table_keys"]

# Key schemas of the tables this process has checked, by (endpoint, table): (hash, range).
_key_schemas: dict[tuple[str, str], tuple[Optional[str], Optional[str]]] = {}
_key_schemas_lock = threading.Lock()


def table_keys(client: Client, table: str) -> tuple[Optional[str], Optional[str]]:
    """The table's (hash, range) key names, from one DescribeTable per process."""
    cache_key = (client.endpoint.url, table)
    found = _key_schemas.get(cache_key)
    if found is not None:
        return found
    with _key_schemas_lock:  # threads racing at cold start share one DescribeTable
        found = _key_schemas.get(cache_key)
        if found is None:
            try:
                description = client.describe_table(table)
            except ServiceError as exc:
                if exc.code != "AccessDeniedException":
                    raise
                raise ConfigurationError(
                    f"cannot check the key schema of table {table!r}: DescribeTable was "
                    "denied; allow dynamodb:DescribeTable or pass check_table=False"
                ) from exc
            roles = {k.get("KeyType"): k.get("AttributeName") for k in description["KeySchema"]}
            found = (roles.get("HASH"), roles.get("RANGE"))
            _key_schemas[cache_key] = found
    return found


def check_table_keys(client: Client, table: str, entity_class: type[Entity]) -> None:
    """ConfigurationError naming both when ``table``'s keys are not ``entity_class.pr_keys()``."""
    hash_key, range_key = table_keys(client, table)
    pk, sk = entity_class.pr_keys()
    if (hash_key, range_key) != (pk, sk):
        raise ConfigurationError(
            f"table {table!r} has hash key {hash_key!r} and range key "
            f"{range_key!r}, but {entity_class.__name__}.pr_keys() is {[pk, sk]!r}: "
            "items would overwrite each other or not be found; use a table with these "
            "keys or override pr_keys"
        )
