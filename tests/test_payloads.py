"""Request payloads: the values checked at run time are the ones the type aliases allow."""

from __future__ import annotations

import typing

import pytest

from dynamore import _payloads
from dynamore.exceptions import ValidationError


@pytest.mark.parametrize(
    ("alias", "checked"),
    [
        (_payloads.ReturnValues, _payloads._RETURN_VALUES),
        (_payloads.ReturnValuesOnFailure, _payloads._RETURN_VALUES_ON_FAILURE),
    ],
)
def test_the_run_time_checks_match_the_literal_types(alias: str, checked: frozenset[str]) -> None:
    # The aliases are text at run time (typing is not imported on the cold path).
    literal = eval(alias, {"Literal": typing.Literal})  # noqa: S307 - our own constant
    assert frozenset(typing.get_args(literal)) == checked


def test_unknown_return_values_are_refused() -> None:
    with pytest.raises(ValidationError, match="return_values"):
        _payloads.write_payload(
            "T",
            condition=None,
            names=None,
            values=None,
            return_values="EVERYTHING",  # type: ignore[arg-type]
            return_values_on_failure=None,
        )
    with pytest.raises(ValidationError, match="return_values_on_failure"):
        _payloads.write_payload(
            "T",
            condition=None,
            names=None,
            values=None,
            return_values=None,
            return_values_on_failure="ALL_NEW",  # type: ignore[arg-type]
        )
