"""One test body for both clients: :func:`make_client` builds a :class:`~dynamore.Client`, or
an :class:`~dynamore.AsyncClient` behind :class:`AsyncFacade`, which drives it from blocking
test code (each coroutine run to its end on the facade's own event loop, each async iterator
stepped one item at a time), so a behavioural test reads the same for both."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

from dynamore import AsyncClient, Client

__all__ = ["KINDS", "AsyncFacade", "make_client"]

#: The parameters of a test run against both clients.
KINDS = ("sync", "async")

_T = TypeVar("_T")


class AsyncFacade:
    """An AsyncClient with the blocking Client's face; ``.aclient`` is the client itself."""

    def __init__(self, aclient: AsyncClient) -> None:
        self.aclient = aclient
        self.loop = asyncio.new_event_loop()

    def run(self, awaitable: Any) -> Any:
        """Run a coroutine on this facade's loop and return its result."""
        return self.loop.run_until_complete(awaitable)

    def _step(self, iterator: AsyncIterator[_T]) -> Iterator[_T]:
        while True:
            try:
                yield self.run(iterator.__anext__())
            except StopAsyncIteration:
                return

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.aclient, name)
        if inspect.iscoroutinefunction(attribute):
            return lambda *args, **kwargs: self.run(attribute(*args, **kwargs))
        if inspect.isasyncgenfunction(attribute):
            return lambda *args, **kwargs: self._step(attribute(*args, **kwargs))
        return attribute

    def __repr__(self) -> str:
        return repr(self.aclient)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.run(self.aclient.aclose())
        self.run(self.loop.shutdown_asyncgens())
        self.loop.close()

    def __enter__(self) -> AsyncFacade:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def make_client(kind: str, **options: Any) -> Any:
    """A Client (``kind="sync"``) or a facade over an AsyncClient (``"async"``) built with
    ``options``; ``transport="native"`` means the asyncio pool for the async one."""
    if kind == "sync":
        return Client(**options)
    if kind == "async":
        return AsyncFacade(AsyncClient(**options))
    raise ValueError(kind)
