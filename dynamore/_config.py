"""Client settings: defaults, region, endpoint and attempts, resolved as AWS SDKs do.

Precedence (first found wins):

- region: explicit argument > ``AWS_REGION`` > ``AWS_DEFAULT_REGION`` > the shared config file
  (``region`` of the profile named by ``AWS_PROFILE``, read through botocore).
- endpoint: explicit argument > ``AWS_ENDPOINT_URL_DYNAMODB`` > ``AWS_ENDPOINT_URL`` >
  ``DDB_ENDPOINT`` > the shared config file (``endpoint_url`` of the profile's ``services``
  section for dynamodb, then the profile's own) > ``https://dynamodb.{region}.amazonaws.com``.
  ``DDB_ENDPOINT`` (the seed's own variable) comes after the standard AWS variables, which
  every SDK and tool honours and so should not be overridden by a dynamore-only name, and
  before the config file, because an environment variable is the more deliberate choice.
  ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`` skips the two ``AWS_ENDPOINT_URL*`` variables
  and the config file (as in botocore), not ``DDB_ENDPOINT``.

- CA bundle (the certificates an https endpoint is verified against, instead of the default
  store), as botocore resolves it: ``AWS_CA_BUNDLE`` > ``ca_bundle`` in the profile >
  ``REQUESTS_CA_BUNDLE``. Every transport trusts exactly this.

The shared config file is read only when it exists, so botocore is never imported where there
is none (Lambda: no ~200 ms import on cold start).
"""

from __future__ import annotations

import math
import os

from dynamore._frozen import Frozen
from dynamore.exceptions import ConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = [
    "DEFAULT_BATCH_ATTEMPTS",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_IDLE_TIME",
    "DEFAULT_READ_TIMEOUT",
    "Endpoint",
    "max_attempts_from_env",
    "positive_count",
    "positive_seconds",
    "resolve_ca_bundle",
    "resolve_endpoint",
    "resolve_region",
]

#: Attempts in all, the first one included (botocore's "standard" retry mode).
DEFAULT_MAX_ATTEMPTS = 3
#: Rounds in a row that may come back with nothing processed before a batch gives up. A round
#: that makes some progress does not count against it: under throttling, partial progress is
#: the normal shape of a batch.
DEFAULT_BATCH_ATTEMPTS = 8
#: Loader defaults (:func:`dynamore.loader.load`), here so that ``DynamoDbProxy.load`` can
#: spell them out without importing the loader: worker threads; the milliseconds left at which
#: a load with a deadline stops taking input (time for the requests in flight to finish); the
#: rejects, failures and existing ids a report keeps (the counts are always exact).
DEFAULT_LOAD_WORKERS = 4
DEFAULT_DEADLINE_MARGIN_MS = 5000
DEFAULT_KEEP = 1000
#: Seconds to open a connection (TCP and TLS).
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Seconds to wait for a complete response once the request is sent.
DEFAULT_READ_TIMEOUT = 10.0
#: Connections a client keeps open at most.
DEFAULT_MAX_CONNECTIONS = 10
#: Seconds a kept-alive connection may sit unused and still be reused. Middleboxes drop idle
#: connections silently (AWS NAT gateway and Network Firewall at 350 s, Azure's load balancer
#: at 240 s, some firewalls sooner) and a Lambda may stay frozen for minutes: a request on such
#: a connection would wait the whole read timeout. 30 s stays well under all of those (and under
#: the 60 s at which the AWS SDK for Java v2 retires idle connections) and costs one new
#: connection (one round trip plus the TLS handshake) per call after a quieter half minute.
DEFAULT_MAX_IDLE_TIME = 30.0

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRUE = ("true", "1", "yes", "on")


class Endpoint(Frozen):
    """Where requests go: ``url`` is normalised to ``scheme://host_header`` (no path).

    ``host`` is what to connect to (an IPv6 address without brackets); ``host_header`` is the
    ``Host`` header, which keeps a non-default port and is what SigV4 signs. Immutable.

    >>> Endpoint.parse("http://127.0.0.1:8000").host_header
    '127.0.0.1:8000'
    >>> Endpoint.parse("https://dynamodb.eu-west-1.amazonaws.com:443/").host_header
    'dynamodb.eu-west-1.amazonaws.com'
    """

    __slots__ = ("url", "scheme", "host", "port", "host_header")

    url: str
    scheme: str
    host: str
    port: int
    host_header: str

    def __init__(self, url: str, scheme: str, host: str, port: int, host_header: str) -> None:
        init = object.__setattr__
        init(self, "url", url)
        init(self, "scheme", scheme)
        init(self, "host", host)
        init(self, "port", port)
        init(self, "host_header", host_header)

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """Check and split an endpoint URL; :class:`ConfigurationError` when unusable."""
        if not isinstance(url, str):
            raise ConfigurationError(f"endpoint URL must be a str, not {type(url).__name__}")
        text = url.strip()
        if "@" in text:
            # Checked before anything else, so that no message below echoes a password.
            raise ConfigurationError("endpoint URL must not carry a user or password")
        # Parsed by hand, not with urllib.parse: an endpoint is only scheme://host[:port][/],
        # and urllib.parse (with ipaddress) cost every cold start ~0.6 MB and milliseconds.
        scheme, sep, rest = text.partition("://")
        scheme = scheme.lower()
        if not sep or scheme not in _DEFAULT_PORTS:
            raise ConfigurationError(
                f"endpoint URL {url!r} must start with https:// or http:// "
                "(e.g. http://localhost:8000 for DynamoDB Local)"
            )
        cut = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
        netloc, tail = rest[:cut], rest[cut:]
        host, port = _split_netloc(url, netloc)
        if not host:
            raise ConfigurationError(f"endpoint URL {url!r} has no host")
        # Requests are signed for "POST /", so a path would break every signature.
        if tail not in ("", "/"):
            raise ConfigurationError(
                f"endpoint URL {url!r} must not have a path, query or fragment"
            )
        if port is None:
            port = _DEFAULT_PORTS[scheme]
        netloc_host = f"[{host}]" if ":" in host else host
        host_header = netloc_host if port == _DEFAULT_PORTS[scheme] else f"{netloc_host}:{port}"
        return cls(f"{scheme}://{host_header}", scheme, host, port, host_header)


_IPV6_CHARACTERS = frozenset("0123456789abcdef:.")


def _split_netloc(url: str, netloc: str) -> tuple[str, Optional[int]]:
    """``host[:port]`` (or ``[ipv6][:port]``) as (lower-case host, port or None)."""
    if netloc.startswith("["):
        inside, closed, after = netloc[1:].partition("]")
        host = inside.lower()
        if not closed or ":" not in host or not set(host) <= _IPV6_CHARACTERS:
            raise ConfigurationError(f"invalid endpoint URL {url!r}: not an IPv6 address")
        if after and not after.startswith(":"):
            raise ConfigurationError(f"invalid endpoint URL {url!r}: text after the address")
        port_text = after[1:]
    else:
        if "[" in netloc or "]" in netloc:
            raise ConfigurationError(f"invalid endpoint URL {url!r}: misplaced bracket")
        host, _, port_text = netloc.partition(":")
        host = host.lower()
    if not port_text:
        return host, None
    if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        raise ConfigurationError(
            f"invalid endpoint URL {url!r}: the port must be a number from 0 to 65535"
        )
    return host, int(port_text)


def positive_seconds(name: str, value: object) -> float:
    """``value`` when it is a finite number > 0 (int or float), else ConfigurationError.

    >>> positive_seconds("read_timeout", 2)
    2.0
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value < math.inf  # NaN fails this too
    ):
        raise ConfigurationError(f"{name} must be a number of seconds > 0, not {value!r}")
    return float(value)


def positive_count(name: str, value: object) -> int:
    """``value`` when it is a whole number >= 1 (an int, not a bool), else ConfigurationError.

    >>> positive_count("max_connections", 4)
    4
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a whole number >= 1, not {value!r}")
    return value


def resolve_ca_bundle(session: Any = None) -> Optional[tuple[str, str]]:
    """The CA bundle to verify https endpoints against, and the setting it came from
    (``AWS_CA_BUNDLE`` > the profile's ``ca_bundle`` > ``REQUESTS_CA_BUNDLE``, as botocore
    resolves it), or None: the transport's default store. ``session`` is the botocore session
    to read the profile from (by default botocore's, and only when a config file exists).

    >>> resolve_ca_bundle()  # doctest: +SKIP
    ('/etc/pki/corp-ca.pem', 'AWS_CA_BUNDLE')
    """
    value = os.environ.get("AWS_CA_BUNDLE")
    if value:
        return value, "AWS_CA_BUNDLE"
    if session is not None or _config_file_exists():
        try:
            value = (session or _botocore_session()).get_config_variable("ca_bundle")
        except Exception as exc:  # botocore's ProfileNotFound, ConfigParseError ...
            raise ConfigurationError(
                f"could not read the AWS config file: {type(exc).__name__}: {exc}"
            ) from exc
        if value:
            return str(value), "ca_bundle in the AWS config file"
    value = os.environ.get("REQUESTS_CA_BUNDLE")
    if value:
        return value, "REQUESTS_CA_BUNDLE"
    return None


def resolve_region(explicit: Optional[str] = None) -> str:
    """The AWS region: explicit > ``AWS_REGION`` > ``AWS_DEFAULT_REGION`` > shared config.

    >>> resolve_region("eu-west-3")
    'eu-west-3'
    """
    for value in (explicit, os.environ.get("AWS_REGION"), os.environ.get("AWS_DEFAULT_REGION")):
        if value and value.strip():
            return value.strip()
    if _config_file_exists():
        try:
            region = _botocore_session().get_config_variable("region")
        except Exception as exc:  # botocore's ProfileNotFound, ConfigParseError ...
            raise ConfigurationError(
                f"could not read the AWS config file: {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(region, str) and region.strip():
            return region.strip()
    raise ConfigurationError(
        "no AWS region: pass region=... to the client, set AWS_REGION (or "
        "AWS_DEFAULT_REGION), or set region in your profile in ~/.aws/config"
    )


def resolve_endpoint(explicit: Optional[str], region: str) -> str:
    """The endpoint URL, validated (see the module docstring for the precedence).

    >>> resolve_endpoint(None, "eu-west-1")  # doctest: +SKIP
    'https://dynamodb.eu-west-1.amazonaws.com'
    """
    environ = os.environ
    ignore_configured = environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() in _TRUE
    candidates: list[Optional[str]] = [explicit]
    if not ignore_configured:
        candidates += [environ.get("AWS_ENDPOINT_URL_DYNAMODB"), environ.get("AWS_ENDPOINT_URL")]
    candidates.append(environ.get("DDB_ENDPOINT"))
    for value in candidates:
        if value and value.strip():
            return Endpoint.parse(value).url
    if not ignore_configured and _config_file_exists():
        configured = _configured_endpoint()
        if configured:
            return Endpoint.parse(configured).url
    if not region or not all(c.isalnum() or c == "-" for c in region):
        raise ConfigurationError(f"region {region!r} is not a valid AWS region name")
    return f"https://dynamodb.{region}.amazonaws.com"


def max_attempts_from_env(default: int = DEFAULT_MAX_ATTEMPTS) -> int:
    """Attempts in all: ``AWS_MAX_ATTEMPTS`` when set (a whole number >= 1), else ``default``.

    >>> max_attempts_from_env(5)  # doctest: +SKIP
    5
    """
    text = os.environ.get("AWS_MAX_ATTEMPTS", "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(
            f"AWS_MAX_ATTEMPTS must be a whole number >= 1 (attempts in all), got {text!r}"
        )
    return value


def _config_file_exists() -> bool:
    path = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    # os.path, not pathlib: importing pathlib costs ~2 ms of every cold start.
    return os.path.isfile(os.path.expanduser(path))


def _botocore_session() -> Any:
    import botocore.session

    return botocore.session.get_session()


def _configured_endpoint() -> Optional[str]:
    """The dynamodb endpoint_url of the current profile in the shared config, if any."""
    session = _botocore_session()
    try:
        ignore = session.get_config_variable("ignore_configured_endpoint_urls")
        if ignore is True or str(ignore).lower() in _TRUE:
            return None
        scoped = session.get_scoped_config()
        services_name = scoped.get("services")
        if services_name:
            services = session.full_config.get("services", {}).get(services_name)
            if services is None:
                raise ConfigurationError(
                    f"the profile uses services = {services_name} but the config file has no "
                    f"[services {services_name}] section"
                )
            endpoint = services.get("dynamodb", {}).get("endpoint_url")
            if endpoint:
                return str(endpoint)
        endpoint = scoped.get("endpoint_url")
    except ConfigurationError:
        raise
    except Exception as exc:  # botocore's ProfileNotFound, ConfigParseError ...
        raise ConfigurationError(
            f"could not read the AWS config file: {type(exc).__name__}: {exc}"
        ) from exc
    return str(endpoint) if endpoint else None
