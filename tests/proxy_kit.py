"""One test body for both entity proxies: :func:`proxy_for` puts a
:class:`~dynamore.dynamodb_proxy.DynamoDbProxy` on a Client, or an
:class:`~dynamore.dynamodb_proxy.AsyncDynamoDbProxy` behind :class:`AsyncProxyFacade` on the
AsyncClient of a :class:`tests.client_kit.AsyncFacade` (each verb run to its end on that
facade's event loop, ``iter`` stepped one item at a time), so a behavioural test of the verbs
reads the same for both. Build the client with :func:`tests.client_kit.make_client`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from dynamore import Client
from dynamore.dynamodb_proxy import AsyncDynamoDbProxy, DynamoDbProxy
from tests.client_kit import KINDS, AsyncFacade, make_client

__all__ = ["KINDS", "AsyncProxyFacade", "make_proxy", "proxy_for"]


class AsyncProxyFacade:
    """An AsyncDynamoDbProxy with the blocking proxy's face, run on ``facade``'s loop;
    ``.aproxy`` is the proxy itself."""

    def __init__(self, aproxy: AsyncDynamoDbProxy, facade: AsyncFacade) -> None:
        self.aproxy = aproxy
        self.facade = facade

    def iter(self, **kwargs: Any) -> Iterator[Any]:
        return self.facade._step(self.aproxy.iter(**kwargs))

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.aproxy, name)
        if inspect.iscoroutinefunction(attribute):
            return lambda *args, **kwargs: self.facade.run(attribute(*args, **kwargs))
        return attribute

    def __repr__(self) -> str:
        return f"<AsyncProxyFacade {self.aproxy!r}>"


def _async_sleep(sleep: Callable[[float], Any]) -> Callable[[float], Any]:
    async def wait(seconds: float) -> None:
        sleep(seconds)

    return wait


def proxy_for(client: Any, **options: Any) -> Any:
    """A DynamoDbProxy on ``client`` (a Client), or a facade over an AsyncDynamoDbProxy on the
    AsyncClient behind ``client`` (an AsyncFacade); ``options`` are the proxy's (a blocking
    ``sleep`` is awaited as a coroutine for the async one)."""
    if isinstance(client, Client):
        return DynamoDbProxy(client=client, **options)
    if isinstance(client, AsyncFacade):
        if "sleep" in options:
            options["sleep"] = _async_sleep(options["sleep"])
        return AsyncProxyFacade(AsyncDynamoDbProxy(client=client.aclient, **options), client)
    raise TypeError(client)


def make_proxy(kind: str, client_options: dict[str, Any], **options: Any) -> tuple[Any, Any]:
    """A new client of ``kind`` built with ``client_options`` (close it after the test) and a
    proxy on it built with ``options``."""
    client = make_client(kind, **client_options)
    return client, proxy_for(client, **options)
