"""AWS credentials: where they come from, and keeping them fresh.

:func:`resolve_credentials` looks, in order, at an explicit argument, the environment
(``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, what every Lambda
has, read without importing botocore: that import costs ~200 ms of cold start) and finally
botocore's provider chain (profiles, SSO, assume-role, container and instance metadata),
imported only then. It returns a :class:`CredentialProvider`, which the client asks for
credentials on every request; that call is a tuple read and a clock read unless a refresh is
due.
"""

from __future__ import annotations

import math
import os
import threading
import time
from _weakrefset import WeakSet  # weakref.py's own source of WeakSet, without the rest of it
from collections.abc import Mapping

from dynamore._frozen import Frozen
from dynamore._log import debug
from dynamore.exceptions import ConfigurationError, DynamoreError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = [
    "DEFAULT_RECHECK_INTERVAL",
    "DEFAULT_REFRESH_MARGIN",
    "CredentialProvider",
    "Credentials",
    "resolve_credentials",
]

#: Seconds before expiry at which credentials are refreshed (botocore refreshes 10-15 min
#: ahead; 5 min leaves room for a slow refresh and for clock skew).
DEFAULT_REFRESH_MARGIN = 300.0

#: How often credentials delegated to a refreshable object of unknown expiry (botocore's
#: ``RefreshableCredentials``) are asked again; that object decides itself whether to refresh.
DEFAULT_RECHECK_INTERVAL = 60.0

# After a failed refresh that could wait (the old credentials still work), don't ask the
# source again on every request.
_RETRY_FAILED_REFRESH_AFTER = 10.0

# A source that hands out credentials already inside the margin must not be called on every
# request either.
_MIN_REFRESH_INTERVAL = 10.0

_NO_CREDENTIALS_MESSAGE = (
    "no AWS credentials found: pass credentials=(access_key, secret_key[, token]) to the "
    "client, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for "
    "temporary credentials), or configure a profile (aws configure / aws sso login, then "
    "AWS_PROFILE)"
)


class Credentials(Frozen):
    """One set of AWS credentials; ``expiry`` is in epoch seconds (None: does not expire).
    Immutable; equal when all four fields are.

    The secret and the token never appear in the repr:

    >>> Credentials("AKIDEXAMPLE", "secret", "token")
    Credentials(access_key='AKIDEXAMPLE', expiry=None)
    """

    __slots__ = ("access_key", "secret_key", "token", "expiry")
    _hidden = frozenset({"secret_key", "token"})

    access_key: str
    secret_key: str
    token: Optional[str]
    expiry: Optional[float]

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        token: Optional[str] = None,
        expiry: Optional[float] = None,
    ) -> None:
        init = object.__setattr__
        init(self, "access_key", access_key)
        init(self, "secret_key", secret_key)
        init(self, "token", token)
        init(self, "expiry", expiry)


# (credentials, refresh_at, valid_until), replaced as a whole so readers never see a mix.
# Before refresh_at: serve. Between the two: one thread refreshes, the others keep serving.
# From valid_until on: everyone waits for the refresh.
_State = tuple[Credentials, float, float]


class CredentialProvider:
    """Hands out current credentials; safe to share between threads.

    ``source`` returns fresh :class:`Credentials`; None means the credentials never change.
    :meth:`get` refreshes through the source ``margin`` seconds before expiry; credentials
    without an expiry are asked for again every ``recheck`` seconds when ``recheck`` is set,
    else only after :meth:`invalidate`. Only one thread calls the source at a time.

    >>> provider = CredentialProvider.static(Credentials("AKID", "secret"))
    >>> provider.get().access_key
    'AKID'
    """

    def __init__(
        self,
        source: Optional[Callable[[], Credentials]],
        *,
        initial: Optional[Credentials] = None,
        margin: float = DEFAULT_REFRESH_MARGIN,
        recheck: Optional[float] = None,
        clock: Callable[[], float] = time.time,
        name: str = "custom",
        origin: Optional[Callable[[], CredentialProvider]] = None,
    ) -> None:
        if source is None and initial is None:
            raise ConfigurationError("a CredentialProvider needs a source or initial credentials")
        self.name = name
        self._origin = origin
        self._source = source
        self._margin = margin
        self._recheck = recheck
        self._clock = clock
        self._lock = threading.Lock()
        first = initial if initial is not None else self._fetch()
        self._state: _State = self._state_for(first, clock())
        _live.add(self)

    @classmethod
    def static(cls, credentials: Credentials, *, name: str = "explicit") -> CredentialProvider:
        """A provider that always returns ``credentials``."""
        return cls(None, initial=credentials, name=name)

    def __repr__(self) -> str:
        creds = self._state[0]
        return f"<CredentialProvider {self.name} access_key={creds.access_key!r}>"

    @property
    def refreshable(self) -> bool:
        """False for fixed credentials: asking again cannot give different ones."""
        return self._source is not None

    def get(self) -> Credentials:
        """The credentials to sign the next request with, refreshed when due."""
        creds, refresh_at, _ = self._state
        if self._clock() < refresh_at:
            return creds
        return self._refresh()

    def invalidate(self, stale: Optional[Credentials] = None) -> None:
        """Make the next :meth:`get` fetch new credentials (DynamoDB said the token expired).

        With ``stale``, only when those are still the current credentials: of several threads
        that met the same expired token, the first triggers one refresh, not one each.
        """
        if self._source is None:
            return
        with self._lock:
            creds = self._state[0]
            if stale is None or stale is creds:
                self._state = (creds, -math.inf, -math.inf)

    def reload(self) -> None:
        """Read the credentials again from where they came from: for those found by
        :func:`resolve_credentials` (the environment, botocore's chain), look them up anew;
        for the others, ask the source again at the next :meth:`get`. Fixed credentials
        given by hand stay. What a process thawed from a snapshot needs (see
        :func:`dynamore.after_restore`)."""
        if self._origin is None:
            self.invalidate()
            return
        fresh = self._origin()
        with self._lock:
            self.name = fresh.name
            self._source = fresh._source
            self._recheck = fresh._recheck
            self._state = fresh._state
        debug("credentials re-read: now from %s", self.name)

    def _state_for(self, creds: Credentials, now: float) -> _State:
        if self._source is None:
            return (creds, math.inf, math.inf)
        if creds.expiry is not None:
            refresh_at = max(creds.expiry - self._margin, now + _MIN_REFRESH_INTERVAL)
            return (creds, refresh_at, creds.expiry)
        if self._recheck is not None:
            # The expiry is unknown, so a due recheck is a hard one.
            at = now + self._recheck
            return (creds, at, at)
        return (creds, math.inf, math.inf)

    def _refresh(self) -> Credentials:
        creds, _, valid_until = self._state
        if self._clock() < valid_until:
            # Early refresh: whoever holds the lock does it; the others keep going.
            if not self._lock.acquire(blocking=False):
                return creds
        else:
            self._lock.acquire()
        try:
            creds, refresh_at, valid_until = self._state
            now = self._clock()
            if now < refresh_at:
                return creds  # another thread refreshed while this one waited
            try:
                fresh = self._fetch()
            except DynamoreError as exc:
                if now < valid_until:
                    debug(
                        "credentials from %s: refresh failed, still using the current ones (%s)",
                        self.name,
                        exc,
                    )
                    retry_at = min(now + _RETRY_FAILED_REFRESH_AFTER, valid_until)
                    self._state = (creds, retry_at, valid_until)
                    return creds
                raise
            self._state = self._state_for(fresh, now)
            debug("credentials from %s: refreshed (expiry %s)", self.name, fresh.expiry)
            return fresh
        finally:
            self._lock.release()

    def _fetch(self) -> Credentials:
        assert self._source is not None
        try:
            creds = self._source()
        except DynamoreError:
            raise
        except Exception as exc:
            raise ConfigurationError(
                f"could not get AWS credentials from {self.name}: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(creds, Credentials) or not creds.access_key or not creds.secret_key:
            raise ConfigurationError(f"{self.name} returned no usable AWS credentials")
        return creds


# Every provider of the process, so that dynamore.after_restore() can reach them all. Weak:
# registering must not keep a client's credentials alive.
_live: WeakSet[CredentialProvider] = WeakSet()


def resolve_credentials(
    explicit: object = None, *, clock: Callable[[], float] = time.time
) -> CredentialProvider:
    """Find credentials the way AWS SDKs do, and return a provider that keeps them fresh.

    ``explicit`` may be :class:`Credentials`, a ``(access_key, secret_key[, token])`` tuple,
    or any object with ``access_key``/``secret_key``/``token`` attributes; one with a
    ``get_frozen_credentials()`` method (botocore's credentials) is asked again on each
    refresh. Without it: the ``AWS_*`` environment variables, then botocore's chain.
    ``clock`` (epoch seconds) decides when a refresh is due.
    Raises :class:`~dynamore.exceptions.ConfigurationError` when nothing is found.

    >>> resolve_credentials(("AKID", "secret")).get().access_key
    'AKID'
    """
    if explicit is not None:
        return _from_explicit(explicit, clock)
    provider = _from_environment(os.environ, clock) or _from_botocore_chain(clock)
    provider._origin = lambda: resolve_credentials(clock=clock)
    return provider


def _from_explicit(explicit: object, clock: Callable[[], float]) -> CredentialProvider:
    if isinstance(explicit, Credentials):
        if not explicit.access_key or not explicit.secret_key:
            raise ConfigurationError("credentials need a non-empty access key and secret key")
        return CredentialProvider.static(explicit)
    if isinstance(explicit, tuple):
        return CredentialProvider.static(_from_tuple(explicit))
    if callable(getattr(explicit, "get_frozen_credentials", None)):
        return _delegating_provider(explicit, clock, name="explicit credentials object")
    if hasattr(explicit, "access_key") and hasattr(explicit, "secret_key"):
        return CredentialProvider.static(_from_attributes(explicit, "credentials"))
    raise ConfigurationError(
        "credentials must be a dynamore Credentials, an (access_key, secret_key[, token]) "
        f"tuple or an object with access_key and secret_key attributes, not {type(explicit)!r}"
    )


def _from_tuple(value: tuple[Any, ...]) -> Credentials:
    if len(value) not in (2, 3):
        raise ConfigurationError(
            f"a credentials tuple is (access_key, secret_key[, token]), got {len(value)} items"
        )
    access_key, secret_key = value[0], value[1]
    token = value[2] if len(value) == 3 else None
    if not isinstance(access_key, str) or not access_key:
        raise ConfigurationError("the access key of a credentials tuple must be a non-empty str")
    if not isinstance(secret_key, str) or not secret_key:
        raise ConfigurationError("the secret key of a credentials tuple must be a non-empty str")
    if token is not None and not isinstance(token, str):
        raise ConfigurationError("the token of a credentials tuple must be a str or None")
    return Credentials(access_key, secret_key, token or None)


def _from_attributes(obj: object, what: str) -> Credentials:
    access_key = getattr(obj, "access_key", None)
    secret_key = getattr(obj, "secret_key", None)
    token = getattr(obj, "token", None)
    if not isinstance(access_key, str) or not access_key:
        raise ConfigurationError(f"{what} has no access key")
    if not isinstance(secret_key, str) or not secret_key:
        raise ConfigurationError(f"{what} has no secret key")
    if token is not None and not isinstance(token, str):
        raise ConfigurationError(f"the token of {what} must be a str or None")
    expiry = _expiry_seconds(getattr(obj, "expiry", None))
    return Credentials(access_key, secret_key, token or None, expiry)


def _expiry_seconds(value: object) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if value is None:
        return None
    # Imported here: credentials from the environment (a Lambda's) never need it.
    import datetime

    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    return None


def _delegating_provider(obj: Any, clock: Callable[[], float], *, name: str) -> CredentialProvider:
    def source() -> Credentials:
        return _from_attributes(obj.get_frozen_credentials(), name)

    # botocore's RefreshableCredentials refreshes itself inside get_frozen_credentials() but
    # keeps its expiry private, so ask it again every so often; static ones only on invalidate.
    refreshable = hasattr(obj, "refresh_needed")
    return CredentialProvider(
        source,
        recheck=DEFAULT_RECHECK_INTERVAL if refreshable else None,
        clock=clock,
        name=name,
    )


def _from_environment(
    environ: Mapping[str, str], clock: Callable[[], float]
) -> Optional[CredentialProvider]:
    access_key = environ.get("AWS_ACCESS_KEY_ID")
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY")
    if not access_key and not secret_key:
        return None
    if not access_key or not secret_key:
        present, missing = (
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            if access_key
            else ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
        )
        raise ConfigurationError(
            f"{present} is set but {missing} is not: set both, or unset {present} to use a profile"
        )
    first = _read_environment(environ)
    if first.expiry is None:
        return CredentialProvider.static(first, name="environment")
    # With AWS_CREDENTIAL_EXPIRATION set, something rotates the variables in place (as
    # botocore's EnvProvider assumes), so read them again when they expire.
    return CredentialProvider(
        lambda: _read_environment(os.environ), initial=first, clock=clock, name="environment"
    )


def _read_environment(environ: Mapping[str, str]) -> Credentials:
    access_key = environ.get("AWS_ACCESS_KEY_ID")
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY")
    if not access_key or not secret_key:
        raise ConfigurationError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are no longer set")
    # AWS_SECURITY_TOKEN is the legacy name; botocore still reads it.
    token = environ.get("AWS_SESSION_TOKEN") or environ.get("AWS_SECURITY_TOKEN") or None
    expiration = environ.get("AWS_CREDENTIAL_EXPIRATION")
    expiry = _parse_expiration(expiration) if expiration else None
    return Credentials(access_key, secret_key, token, expiry)


def _parse_expiration(text: str) -> float:
    import datetime

    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"  # fromisoformat only reads "Z" from Python 3.11 on
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ConfigurationError(
            f"AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time: {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _from_botocore_chain(clock: Callable[[], float]) -> CredentialProvider:
    try:
        import botocore.session
    except ImportError:  # pragma: no cover - botocore is a dependency
        raise ConfigurationError(_NO_CREDENTIALS_MESSAGE) from None
    try:
        found = botocore.session.get_session().get_credentials()
    except Exception as exc:
        raise ConfigurationError(
            f"botocore could not load AWS credentials: {type(exc).__name__}: {exc}"
        ) from exc
    if found is None:
        raise ConfigurationError(_NO_CREDENTIALS_MESSAGE)
    return _delegating_provider(found, clock, name="botocore credential chain")
