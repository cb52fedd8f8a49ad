"""dynamore: JSON-Schema entities in one DynamoDB table, on a fast low-level DynamoDB client.

>>> from dynamore import Client                       # the low-level client
>>> from dynamore import AsyncClient                  # the same on asyncio
>>> from dynamore.entity import Entity                # entity types (JSON Schema)
>>> from dynamore.dynamodb_proxy import DynamoDbProxy  # REST-like verbs over one table
>>> from dynamore import load, LoadReport, Checkpoint  # bulk loading (dynamore.loader)
"""

from __future__ import annotations

from dynamore._client import Client, Page
from dynamore._credentials import Credentials
from dynamore._retry import RetryPolicy
from dynamore._transports.base import Response, Transport
from dynamore._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "IDLE",
    "SKIP",
    "AsyncClient",
    "AttemptRecord",
    "Checkpoint",
    "Client",
    "Credentials",
    "LoadReport",
    "Page",
    "Progress",
    "QueryPage",
    "Reject",
    "RequestRecord",
    "Response",
    "RetryPolicy",
    "Transport",
    "__version__",
    "after_restore",
    "load",
    "prewarm",
    "table_definition",
]

# Names whose module is imported on first use only (PEP 562): ``import dynamore`` stays cheap.
_LAZY = {
    "AsyncClient": "dynamore._async_client",
    "AttemptRecord": "dynamore._observe",
    "RequestRecord": "dynamore._observe",
    "IDLE": "dynamore.loader",
    "SKIP": "dynamore.loader",
    "Checkpoint": "dynamore.loader",
    "LoadReport": "dynamore.loader",
    "Progress": "dynamore.loader",
    "Reject": "dynamore.loader",
    "load": "dynamore.loader",
    # Not on a Lambda's cold path (import, Client, GetItem): ~1.5 ms with their own imports.
    "QueryPage": "dynamore._query",
    "table_definition": "dynamore._tables",
    "after_restore": "dynamore._lambda",
    "prewarm": "dynamore._lambda",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'dynamore' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
