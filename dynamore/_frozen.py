"""The base of the small immutable value classes on the cold path (credentials, endpoint,
retry policy, pages, request records).

They were frozen dataclasses; importing :mod:`dataclasses` pulls in ``inspect``, ``ast``,
``dis`` and ``tokenize``: ~1.4 MB of peak RSS and several milliseconds that every Lambda cold
start paid before its first request. A subclass declares its ``__slots__`` (the fields, in
order), sets them in its own typed ``__init__`` through :func:`object.__setattr__`, and names
the fields left out of the repr (secrets) and of equality. What it keeps of the dataclass:
assignment raises ``AttributeError``, equality and hash over the compared fields, the repr,
pickling and copying, and :meth:`Frozen.replace`. ``__init__`` takes the
fields positionally in ``__slots__`` order.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _F = TypeVar("_F", bound="Frozen")

__all__ = ["Frozen"]


class Frozen:
    """Immutable value object over ``__slots__``; see the module docstring."""

    __slots__: tuple[str, ...] = ()
    #: Fields not shown in the repr (secrets, callables).
    _hidden: frozenset[str] = frozenset()
    #: Fields equality and hash ignore.
    _uncompared: frozenset[str] = frozenset()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is frozen")

    def _compared(self) -> tuple[object, ...]:
        return tuple(getattr(self, n) for n in self.__slots__ if n not in self._uncompared)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frozen) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{n}={getattr(self, n)!r}" for n in self.__slots__ if n not in self._hidden
        )
        return f"{type(self).__name__}({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle and copy through __init__: the default would set the slots one by one.
        return (type(self), tuple(getattr(self, n) for n in self.__slots__))

    def replace(self: _F, **changes: Any) -> _F:
        """A copy with ``changes`` applied, through ``__init__`` (so its checks run again),
        as :func:`dataclasses.replace` does."""
        values = {n: getattr(self, n) for n in self.__slots__}
        values.update(changes)
        return type(self)(**values)
