"""Credentials: resolution order, refresh before expiry, one refresher at a time, no leaks."""

from __future__ import annotations

import datetime
import logging
import os
import textwrap
import threading
from pathlib import Path
from typing import Optional

import pytest
from botocore.credentials import Credentials as BotocoreCredentials
from botocore.credentials import RefreshableCredentials

from dynamore._credentials import (
    DEFAULT_RECHECK_INTERVAL,
    DEFAULT_REFRESH_MARGIN,
    CredentialProvider,
    Credentials,
    resolve_credentials,
)
from dynamore.exceptions import ConfigurationError, ExpiredCredentials

SECRET = "wJalrXUtnFEMI-SECRET-DO-NOT-PRINT"
TOKEN = "IQoJb3JpZ2luX2VjEJ-TOKEN-DO-NOT-PRINT"


@pytest.fixture
def aws_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AWS variable from the developer's shell; config files in tmp (absent until written)."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name in ("DDB_ENDPOINT", "BOTO_CONFIG"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("BOTO_CONFIG", str(tmp_path / "boto"))
    # No instance metadata lookups (they would wait for 169.254.169.254).
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Source:
    """Hands out numbered credentials, optionally failing, and counts calls."""

    def __init__(self, lifetime: Optional[float], clock: Clock) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self.calls = 0
        self.fail: Optional[Exception] = None

    def __call__(self) -> Credentials:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        expiry = None if self.lifetime is None else self.clock.now + self.lifetime
        return Credentials(f"AKID{self.calls}", f"secret{self.calls}", None, expiry)


# --- Credentials --------------------------------------------------------------------------


def test_credentials_repr_and_str_hide_secrets() -> None:
    creds = Credentials("AKIDEXAMPLE", SECRET, TOKEN, 1.5)
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert SECRET not in text and TOKEN not in text
    assert repr(creds) == "Credentials(access_key='AKIDEXAMPLE', expiry=1.5)"


def test_credentials_are_frozen() -> None:
    with pytest.raises(AttributeError, match="frozen"):
        Credentials("a", "b").secret_key = "c"  # type: ignore[misc]


def test_provider_repr_hides_secrets() -> None:
    provider = resolve_credentials(("AKIDEXAMPLE", SECRET, TOKEN))
    assert SECRET not in repr(provider) and TOKEN not in repr(provider)
    assert "AKIDEXAMPLE" in repr(provider)


# --- explicit -----------------------------------------------------------------------------


def test_explicit_credentials_win_over_the_environment(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    creds = Credentials("AKID", SECRET)
    provider = resolve_credentials(creds)
    assert provider.get() is creds
    provider.invalidate()  # nothing to refresh from: keeps them
    assert provider.get() is creds


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (("AKID", "s"), Credentials("AKID", "s")),
        (("AKID", "s", "t"), Credentials("AKID", "s", "t")),
        (("AKID", "s", None), Credentials("AKID", "s")),
        (("AKID", "s", ""), Credentials("AKID", "s")),
    ],
)
def test_explicit_tuple(given: tuple[str, ...], expected: Credentials) -> None:
    assert resolve_credentials(given).get() == expected


class Attributes:
    def __init__(self, access_key: object, secret_key: object, token: object = None) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = token


def test_explicit_object_with_attributes() -> None:
    got = resolve_credentials(Attributes("AKID", "s", "t")).get()
    assert got == Credentials("AKID", "s", "t")


def test_explicit_botocore_credentials() -> None:
    got = resolve_credentials(BotocoreCredentials("AKID", "s", "t")).get()
    assert got == Credentials("AKID", "s", "t")


def test_explicit_botocore_refreshable_credentials() -> None:
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    metadata = {
        "access_key": "AKID",
        "secret_key": "s",
        "token": "t",
        "expiry_time": expires.isoformat(),
    }
    botocore_creds = RefreshableCredentials.create_from_metadata(
        metadata, refresh_using=lambda: metadata, method="test"
    )
    assert resolve_credentials(botocore_creds).get() == Credentials("AKID", "s", "t")


class Frozen:
    """Something like botocore's RefreshableCredentials: asked on every refresh."""

    def __init__(self) -> None:
        self.calls = 0

    def refresh_needed(self) -> bool:
        return False

    def get_frozen_credentials(self) -> Attributes:
        self.calls += 1
        return Attributes(f"AKID{self.calls}", "s")


def test_refreshable_object_is_asked_again_every_recheck_interval() -> None:
    clock = Clock()
    delegate = Frozen()
    provider = resolve_credentials(delegate, clock=clock)
    assert provider.get().access_key == "AKID1"
    clock.now += DEFAULT_RECHECK_INTERVAL - 1
    assert provider.get().access_key == "AKID1"
    clock.now += 1
    assert provider.get().access_key == "AKID2"
    provider.invalidate()
    assert provider.get().access_key == "AKID3"
    assert delegate.calls == 3


def test_static_botocore_object_is_asked_again_only_after_invalidate() -> None:
    class Static:
        calls = 0

        def get_frozen_credentials(self) -> Attributes:
            Static.calls += 1
            return Attributes("AKID", f"s{Static.calls}")

    clock = Clock()
    provider = resolve_credentials(Static(), clock=clock)
    clock.now += 10 * DEFAULT_RECHECK_INTERVAL
    assert provider.get().secret_key == "s1"
    provider.invalidate()
    assert provider.get().secret_key == "s2"


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        (("AKID",), "got 1 items"),
        (("AKID", "s", "t", "x"), "got 4 items"),
        (("", "s"), "access key"),
        (("AKID", ""), "secret key"),
        ((1, "s"), "access key"),
        (("AKID", "s", 3), "token"),
        (Credentials("", "s"), "non-empty"),
        (Credentials("AKID", ""), "non-empty"),
        (Attributes("AKID", None), "no secret key"),
        (Attributes(None, "s"), "no access key"),
        (Attributes("AKID", "s", 5), "token"),
        (["AKID", "s"], "must be a dynamore Credentials"),
        ("AKID:secret", "must be a dynamore Credentials"),
    ],
)
def test_unusable_explicit_credentials(given: object, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        resolve_credentials(given)


def test_unusable_explicit_credentials_do_not_leak_the_secret() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_credentials(("AKID", SECRET, TOKEN, "extra"))
    assert SECRET not in str(caught.value) and TOKEN not in str(caught.value)


# --- environment --------------------------------------------------------------------------


def test_environment_credentials(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    assert resolve_credentials().get() == Credentials("AKIDENV", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    provider = resolve_credentials()
    assert provider.get() == Credentials("AKIDENV", SECRET, TOKEN)
    assert provider.name == "environment"


def test_environment_wins_over_profiles(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (aws_home / "credentials").write_text(
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file\n"
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env")
    assert resolve_credentials().get().access_key == "AKIDENV"


def test_legacy_security_token_variable(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "legacy")
    assert resolve_credentials().get().token == "legacy"
    monkeypatch.setenv("AWS_SESSION_TOKEN", "current")
    assert resolve_credentials().get().token == "current"


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
    ],
)
def test_half_the_environment_is_an_error(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch, present: str, missing: str
) -> None:
    monkeypatch.setenv(present, SECRET)
    with pytest.raises(ConfigurationError, match=f"{present} is set but {missing} is not") as e:
        resolve_credentials()
    assert SECRET not in str(e.value)


def test_environment_with_expiration_is_read_again(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(1_700_000_000.0)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s1")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", "2023-11-14T23:13:20Z")  # clock + 1 h
    provider = resolve_credentials(clock=clock)
    assert provider.get() == Credentials("AKID1", "s1", None, 1_700_003_600.0)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s2")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", "2023-11-15T00:13:20+00:00")
    clock.now = 1_700_003_600.0 - DEFAULT_REFRESH_MARGIN - 1
    assert provider.get().access_key == "AKID1"
    clock.now += 1
    assert provider.get() == Credentials("AKID2", "s2", None, 1_700_007_200.0)


def test_bad_expiration_variable(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", "tomorrow")
    with pytest.raises(ConfigurationError, match="AWS_CREDENTIAL_EXPIRATION"):
        resolve_credentials()


# --- botocore's chain ---------------------------------------------------------------------


def test_shared_credentials_file_through_botocore(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (aws_home / "credentials").write_text(
        textwrap.dedent(
            """
            [default]
            aws_access_key_id = AKIDDEFAULT
            aws_secret_access_key = default-secret
            [work]
            aws_access_key_id = AKIDWORK
            aws_secret_access_key = work-secret
            aws_session_token = work-token
            """
        )
    )
    provider = resolve_credentials()
    assert provider.get() == Credentials("AKIDDEFAULT", "default-secret")
    assert provider.name == "botocore credential chain"
    monkeypatch.setenv("AWS_PROFILE", "work")
    assert resolve_credentials().get() == Credentials("AKIDWORK", "work-secret", "work-token")


def test_no_credentials_anywhere(aws_home: Path) -> None:
    with pytest.raises(ConfigurationError, match="no AWS credentials found") as caught:
        resolve_credentials()
    message = str(caught.value)
    assert "AWS_ACCESS_KEY_ID" in message and "credentials=" in message
    assert "AWS_PROFILE" in message


def test_unknown_profile(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "missing-profile")
    with pytest.raises(ConfigurationError, match="missing-profile"):
        resolve_credentials()


# --- CredentialProvider -------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_static_provider_never_asks_again(clock: Clock) -> None:
    creds = Credentials("AKID", "s", None, clock.now + 1)
    provider = CredentialProvider.static(creds)
    clock.now += 10**9
    assert provider.get() is creds


def test_provider_needs_something(clock: Clock) -> None:
    with pytest.raises(ConfigurationError):
        CredentialProvider(None)


def test_refresh_happens_margin_seconds_before_expiry(clock: Clock) -> None:
    source = Source(lifetime=3600, clock=clock)
    provider = CredentialProvider(source, clock=clock, margin=300)
    assert source.calls == 1  # fetched up front, so a broken source fails at construction
    first = provider.get()
    clock.now += 3600 - 300 - 0.001
    assert provider.get() is first
    clock.now += 0.001
    assert provider.get().access_key == "AKID2"
    assert source.calls == 2
    assert provider.get().access_key == "AKID2"
    assert source.calls == 2


def test_credentials_without_expiry_are_kept(clock: Clock) -> None:
    source = Source(lifetime=None, clock=clock)
    provider = CredentialProvider(source, clock=clock)
    clock.now += 10**7
    assert provider.get().access_key == "AKID1"
    assert source.calls == 1


def test_recheck_for_credentials_without_expiry(clock: Clock) -> None:
    source = Source(lifetime=None, clock=clock)
    provider = CredentialProvider(source, clock=clock, recheck=60)
    clock.now += 59.9
    assert provider.get().access_key == "AKID1"
    clock.now += 0.1
    assert provider.get().access_key == "AKID2"


def test_initial_credentials_skip_the_first_fetch(clock: Clock) -> None:
    source = Source(lifetime=3600, clock=clock)
    given = Credentials("GIVEN", "s", None, clock.now + 3600)
    provider = CredentialProvider(source, initial=given, clock=clock)
    assert provider.get() is given and source.calls == 0


def test_short_lived_credentials_are_not_fetched_on_every_call(clock: Clock) -> None:
    source = Source(lifetime=60, clock=clock)  # always inside the 5 min margin
    provider = CredentialProvider(source, clock=clock)
    for _ in range(100):
        provider.get()
    assert source.calls == 1
    clock.now += 10
    provider.get()
    assert source.calls == 2


def test_invalidate_forces_a_refresh(clock: Clock) -> None:
    source = Source(lifetime=3600, clock=clock)
    provider = CredentialProvider(source, clock=clock)
    provider.invalidate()
    assert provider.get().access_key == "AKID2"


def test_invalidate_with_stale_credentials_only_once(clock: Clock) -> None:
    source = Source(lifetime=3600, clock=clock)
    provider = CredentialProvider(source, clock=clock)
    stale = provider.get()
    provider.invalidate(stale)
    assert provider.get().access_key == "AKID2"
    provider.invalidate(stale)  # a second thread that met the same expired token
    assert provider.get().access_key == "AKID2"
    assert source.calls == 2


def test_failed_early_refresh_keeps_the_old_credentials(clock: Clock) -> None:
    source = Source(lifetime=3600, clock=clock)
    provider = CredentialProvider(source, clock=clock, margin=300)
    clock.now += 3400  # inside the margin, 200 s before expiry
    source.fail = RuntimeError("metadata service hiccup")
    assert provider.get().access_key == "AKID1"
    assert provider.get().access_key == "AKID1"
    assert source.calls == 2  # not asked again on every call after a failure
    clock.now += 10
    assert provider.get().access_key == "AKID1"
    assert source.calls == 3
    source.fail = None
    clock.now += 10
    assert provider.get().access_key == "AKID4"


def test_failed_refresh_after_expiry_raises(clock: Clock) -> None:
    source = Source(lifetime=3600, clock=clock)
    provider = CredentialProvider(source, clock=clock, name="test source")
    clock.now += 3600
    cause = RuntimeError("metadata service down")
    source.fail = cause
    with pytest.raises(ConfigurationError, match="test source: RuntimeError") as caught:
        provider.get()
    assert caught.value.__cause__ is cause


def test_failed_refresh_after_invalidate_raises_dynamore_errors_unchanged(clock: Clock) -> None:
    source = Source(lifetime=3600, clock=clock)
    provider = CredentialProvider(source, clock=clock)
    provider.invalidate()
    error = ExpiredCredentials("ExpiredTokenException", "expired")
    source.fail = error
    with pytest.raises(ExpiredCredentials) as caught:
        provider.get()
    assert caught.value is error


def test_source_returning_garbage(clock: Clock) -> None:
    with pytest.raises(ConfigurationError, match="no usable AWS credentials"):
        CredentialProvider(lambda: Credentials("", "s"), clock=clock)


class Gate:
    """A source that blocks inside the refresh until released, to line threads up."""

    def __init__(self, clock: Clock) -> None:
        self.inner = Source(lifetime=3600, clock=clock)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.blocking = False

    def __call__(self) -> Credentials:
        if self.blocking:
            self.entered.set()
            assert self.release.wait(10)
        return self.inner()


def test_during_an_early_refresh_other_threads_keep_the_old_credentials(clock: Clock) -> None:
    gate = Gate(clock)
    provider = CredentialProvider(gate, clock=clock, margin=300)
    clock.now += 3400
    gate.blocking = True
    got: list[Credentials] = []
    refresher = threading.Thread(target=lambda: got.append(provider.get()))
    refresher.start()
    assert gate.entered.wait(10)
    # The refresher holds the lock inside the source; this thread must not wait for it.
    assert provider.get().access_key == "AKID1"
    gate.release.set()
    refresher.join(10)
    assert [c.access_key for c in got] == ["AKID2"]
    assert provider.get().access_key == "AKID2"
    assert gate.inner.calls == 2


def test_after_expiry_threads_wait_for_one_refresh(clock: Clock) -> None:
    gate = Gate(clock)
    provider = CredentialProvider(gate, clock=clock)
    provider.invalidate()
    gate.blocking = True
    got: list[str] = []
    lock = threading.Lock()

    def get() -> None:
        key = provider.get().access_key
        with lock:
            got.append(key)

    threads = [threading.Thread(target=get) for _ in range(8)]
    threads[0].start()
    assert gate.entered.wait(10)
    for thread in threads[1:]:
        thread.start()
    gate.release.set()
    for thread in threads:
        thread.join(10)
    assert got == ["AKID2"] * 8
    assert gate.inner.calls == 2  # the first fetch, then exactly one refresh


def test_refreshes_leave_debug_records(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="dynamore")
    source = Source(lifetime=3600, clock=clock)
    provider = CredentialProvider(source, clock=clock, margin=300, name="test source")
    provider.get()
    assert caplog.records == []  # nothing while the credentials are fresh
    clock.now += 3400
    source.fail = RuntimeError("metadata service hiccup")
    provider.get()
    source.fail = None
    clock.now += 10
    provider.get()
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("credentials from test source: refresh failed, still using")
    assert messages[1] == f"credentials from test source: refreshed (expiry {clock.now + 3600})"
    assert "secret" not in " ".join(messages)
