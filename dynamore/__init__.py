"""dynamore: JSON-Schema entities in one DynamoDB table, on a fast low-level DynamoDB client."""

from __future__ import annotations

__version__ = "0.2.0.dev0"

__all__ = ["__version__"]
