"""The immutable value base of the cold path's small classes (no dataclasses import)."""

from __future__ import annotations

import copy
import pickle

import pytest

from dynamore import Credentials, Page, RetryPolicy
from dynamore._config import Endpoint
from dynamore._observe import AttemptRecord
from dynamore.exceptions import ConfigurationError


def test_fields_cannot_be_assigned_added_or_deleted() -> None:
    creds = Credentials("AKID", "secret")
    with pytest.raises(AttributeError, match="frozen"):
        creds.access_key = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        del creds.token  # type: ignore[misc]
    with pytest.raises(AttributeError):
        creds.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(creds, "__dict__")


def test_equality_and_hash_skip_the_uncompared_fields() -> None:
    assert RetryPolicy(jitter=lambda: 0.1) == RetryPolicy(jitter=lambda: 0.9)
    assert RetryPolicy(attempt=2) != RetryPolicy(attempt=1)
    assert hash(RetryPolicy(cap=3.0)) == hash(RetryPolicy(cap=3.0))
    assert Page([], None, 0, 0, {"PK": {"S": "a"}}) == Page([], None, 0, 0, None)
    assert Credentials("a", "b") != Credentials("a", "c")
    # Another class with the same values is not equal (dataclasses agree).
    assert AttemptRecord(200, None, 1, 2, None, 0.5) != (200, None, 1, 2, None, 0.5)


def test_repr_leaves_out_hidden_fields() -> None:
    assert repr(RetryPolicy()) == (
        "RetryPolicy(max_attempts=3, attempt=1, throttle_base=1.0, transient_base=0.025, cap=20.0)"
    )
    assert repr(Page([{"a": 1}], None, 1, 1, {"x": {"S": "y"}})) == (
        "Page(items=[{'a': 1}], last_key=None, count=1, scanned_count=1)"
    )


def test_replace_goes_through_init_and_its_checks() -> None:
    policy = RetryPolicy(max_attempts=5)
    assert policy.replace(attempt=4).attempt == 4
    assert policy.replace(attempt=4).max_attempts == 5
    with pytest.raises(ConfigurationError, match="attempt counts from 1"):
        policy.replace(attempt=0)


def test_pickle_and_copy_round_trip() -> None:
    endpoint = Endpoint.parse("http://127.0.0.1:8000")
    creds = Credentials("AKID", "secret", "token", 12.5)
    for value in (endpoint, creds, AttemptRecord(200, None, 1, 2, 0.1, 0.5)):
        for twin in (pickle.loads(pickle.dumps(value)), copy.copy(value), copy.deepcopy(value)):
            assert twin == value and type(twin) is type(value)
    assert pickle.loads(pickle.dumps(creds)).secret_key == "secret"
