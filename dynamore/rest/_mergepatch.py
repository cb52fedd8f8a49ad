"""JSON Merge Patch (RFC 7396): what a PATCH body means.

>>> merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"a": None, "b": {"c": 4}})
{'b': {'c': 4, 'd': 3}}
"""

from __future__ import annotations

from typing import Any

__all__ = ["is_flat", "merge_patch"]


def merge_patch(target: Any, patch: Any) -> Any:
    """``target`` with ``patch`` applied (neither is changed): an object patch merges member
    by member, ``null`` removes a member, anything else replaces the target."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def is_flat(patch: dict[str, Any]) -> bool:
    """True when applying ``patch`` only sets whole top-level members: no ``null`` (removal)
    and no object (which would merge into the stored one). Such a patch is an update of those
    attributes, with no need to read the stored item."""
    return not any(value is None or isinstance(value, dict) for value in patch.values())
