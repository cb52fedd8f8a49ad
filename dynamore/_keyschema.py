"""The table check shared by ``DynamoDbProxy``, ``AsyncDynamoDbProxy`` and the bulk loader:
does a table's key schema match an entity's ``pr_keys()``? One ``DescribeTable`` per table per
process (cached; the asyncio side sends its own, :func:`dynamore._async_proxy.table_keys`)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Optional

from dynamore.exceptions import ConfigurationError, ServiceError

if TYPE_CHECKING:
    from dynamore._client import Client
    from dynamore.entity import Entity

__all__ = [
    "Keys",
    "check_keys",
    "check_table_keys",
    "known_keys",
    "raise_if_denied",
    "remember_keys",
    "table_keys",
]

#: A table's (hash, range) key names.
Keys = tuple[Optional[str], Optional[str]]

# Key schemas of the tables this process has checked, by (endpoint, table): (hash, range).
# Shared by the blocking and the asyncio proxies.
_key_schemas: dict[tuple[str, str], Keys] = {}
_key_schemas_lock = threading.Lock()


def table_keys(client: Client, table: str) -> Keys:
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
                raise_if_denied(table, exc)
                raise
            found = remember_keys(cache_key, description)
    return found


def known_keys(endpoint_url: str, table: str) -> Optional[Keys]:
    """The key names of ``table`` at ``endpoint_url`` if this process has described it."""
    return _key_schemas.get((endpoint_url, table))


def remember_keys(cache_key: tuple[str, str], description: dict[str, Any]) -> Keys:
    """The (hash, range) key names of a DescribeTable answer, kept for the process."""
    roles = {k.get("KeyType"): k.get("AttributeName") for k in description["KeySchema"]}
    found = (roles.get("HASH"), roles.get("RANGE"))
    _key_schemas[cache_key] = found
    return found


def raise_if_denied(table: str, exc: ServiceError) -> None:
    """A ConfigurationError naming the permission and the opt-out, when DescribeTable of
    ``table`` failed with ``exc`` for want of permission."""
    if exc.code == "AccessDeniedException":
        raise ConfigurationError(
            f"cannot check the key schema of table {table!r}: DescribeTable was "
            "denied; allow dynamodb:DescribeTable or pass check_table=False"
        ) from exc


def check_table_keys(client: Client, table: str, entity_class: type[Entity]) -> None:
    """ConfigurationError naming both when ``table``'s keys are not ``entity_class.pr_keys()``."""
    check_keys(table, table_keys(client, table), entity_class)


def check_keys(table: str, keys: Keys, entity_class: type[Entity]) -> None:
    """ConfigurationError naming both when ``keys`` (``table``'s) are not
    ``entity_class.pr_keys()``."""
    hash_key, range_key = keys
    pk, sk = entity_class.pr_keys()
    if (hash_key, range_key) != (pk, sk):
        raise ConfigurationError(
            f"table {table!r} has hash key {hash_key!r} and range key "
            f"{range_key!r}, but {entity_class.__name__}.pr_keys() is {[pk, sk]!r}: "
            "items would overwrite each other or not be found; use a table with these "
            "keys or override pr_keys"
        )
