"""dynamore: JSON-Schema entities in one DynamoDB table, on a fast low-level DynamoDB client.

>>> from dynamore import Client                       # the low-level client
>>> from dynamore.entity import Entity                # entity types (JSON Schema)
>>> from dynamore.dynamodb_proxy import DynamoDbProxy  # REST-like verbs over one table
"""

from __future__ import annotations

from dynamore._client import Client, Page
from dynamore._credentials import Credentials
from dynamore._retry import RetryPolicy
from dynamore._transports.base import Response, Transport

__version__ = "0.2.0.dev0"

__all__ = ["Client", "Credentials", "Page", "Response", "RetryPolicy", "Transport", "__version__"]
