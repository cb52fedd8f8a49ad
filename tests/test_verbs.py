"""The verbs' plans (dynamore._verbs) without a server: the steps a plan asks for, what it
makes of their results and errors, and the backoff of read-merge-write, driven by hand."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

import pytest

from dynamore import _verbs
from dynamore._verbs import CHECK_TABLE, PAUSE, Plan, Step
from dynamore.codec import decode_item, encode_item
from dynamore.dynamodb_proxy import AsyncDynamoDbProxy, DynamoDbProxy
from dynamore.exceptions import AlreadyExists, ConcurrentUpdate, ConditionalCheckFailed
from tests.kit import JEANNE, Person

Item = dict[str, Any]
KEY = {"PK": "PERSON", "SK": JEANNE["id_number"]}


def failed(*, ambiguous: bool = False, stored: Optional[Item] = None) -> ConditionalCheckFailed:
    body = {} if stored is None else {"Item": encode_item(stored)}
    exc = ConditionalCheckFailed("ConditionalCheckFailedException", "", body=body)
    exc.ambiguous = ambiguous
    return exc


def run(plan: Plan[Any], answer: Any, steps: Optional[list[Step]] = None) -> tuple[list[Step], Any]:
    """Drive ``plan``, answering each client step with ``answer(step)`` (thrown in if it is an
    exception); the steps asked for (also appended to ``steps``) and the plan's result."""
    steps = [] if steps is None else steps
    try:
        step = next(plan)
        while True:
            steps.append(step)
            result = None if step[0] in (CHECK_TABLE, PAUSE) else answer(step)
            step = plan.throw(result) if isinstance(result, Exception) else plan.send(result)
    except StopIteration as done:
        return steps, done.value


def test_post_checks_the_table_then_sends_one_conditional_put() -> None:
    steps, result = run(_verbs.post("T", Person, JEANNE, check=True), lambda step: None)
    assert result == JEANNE
    assert [s[0] for s in steps] == [CHECK_TABLE, "put_item"]
    assert steps[0][1] == (Person,)
    put = steps[1]
    assert put[1] == ("T", {**JEANNE, **KEY})
    assert put[2]["condition"] == "attribute_not_exists(#pk)"
    assert put[2]["return_values_on_failure"] == "ALL_OLD"


@pytest.mark.parametrize(
    "error, created",
    [
        (failed(ambiguous=True, stored={**JEANNE, **KEY}), True),  # its own lost answer
        (failed(ambiguous=True, stored={**JEANNE, **KEY, "age": 1}), False),  # someone else's
        (failed(ambiguous=False, stored={**JEANNE, **KEY}), False),  # identical, not ours
    ],
    ids=["own write", "other data", "not ambiguous"],
)
def test_post_meeting_a_failed_condition(error: ConditionalCheckFailed, created: bool) -> None:
    plan = _verbs.post("T", Person, JEANNE, check=True)
    if created:
        assert run(plan, lambda step: error)[1] == JEANNE
        return
    with pytest.raises(AlreadyExists) as caught:
        run(plan, lambda step: error)
    assert caught.value.__context__ is None or caught.value.__suppress_context__


class Contended:
    """A client on which every read finds JEANNE and every write meets another writer's."""

    def call(self, operation: str, payload: Item) -> Item:
        return {"Item": encode_item({**JEANNE, **KEY})}

    def update_item(self, *args: Any, **kwargs: Any) -> None:
        raise failed()

    decode_item = staticmethod(decode_item)


class AsyncContended(Contended):
    async def call(self, operation: str, payload: Item) -> Item:  # type: ignore[override]
        return super().call(operation, payload)

    async def update_item(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().update_item()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_read_merge_write_backs_off_between_attempts_and_gives_up(kind: str) -> None:
    slept: list[float] = []
    patch = {"id_number": JEANNE["id_number"], "age": 1}
    with pytest.raises(ConcurrentUpdate) as caught:
        if kind == "sync":
            db = DynamoDbProxy(
                table_name="T",
                client=Contended(),  # type: ignore[arg-type]
                check_table=False,
                sleep=slept.append,
                jitter=lambda: 0.5,
            )
            db.patch(entity_class=Hooked, data=patch)
        else:

            async def sleep(seconds: float) -> None:
                slept.append(seconds)

            adb = AsyncDynamoDbProxy(
                table_name="T",
                client=AsyncContended(),  # type: ignore[arg-type]
                check_table=False,
                sleep=sleep,
                jitter=lambda: 0.5,
            )
            asyncio.run(adb.patch(entity_class=Hooked, data=patch))
    assert slept == [0.01, 0.02, 0.04, 0.08]
    # Raised after the last attempt, not "during handling" of its failed condition.
    assert caught.value.__context__ is None


class Hooked(Person):
    """A pre hook: patches read, merge and write."""

    @classmethod
    def pre(cls, http_method: str, data: Item, existing_item: Optional[Item] = None) -> bool:
        return True


def test_read_merge_write_steps() -> None:
    answers = {"call": lambda: {"Item": encode_item({**JEANNE, **KEY})}, "update_item": failed}
    plan = _verbs.guarded_write(
        "T",
        Person,
        KEY,
        _verbs.merge_step(Person, {"id_number": JEANNE["id_number"], "age": 1}),
        decode=decode_item,
        jitter=lambda: 0.25,
    )
    steps: list[Step] = []
    with pytest.raises(ConcurrentUpdate):
        run(plan, lambda step: answers[step[0]](), steps)
    assert [s[0] for s in steps] == ["call", "update_item", PAUSE] * 4 + ["call", "update_item"]
    assert [s[1][0] for s in steps if s[0] == PAUSE] == [0.005, 0.01, 0.02, 0.04]
    read, update = steps[0], steps[1]
    assert read[1] == (
        "GetItem",
        {"TableName": "T", "Key": encode_item(KEY), "ConsistentRead": True},
    )
    names, values = update[2]["names"], update[2]["values"]
    age = next(p for p, name in names.items() if name == "age" and p.startswith("#a"))
    assert update[1] == ("T", KEY) and values[":" + age[1:]] == 1
    assert f"{age} = :{age[1:]}" in update[2]["update"]
    assert update[2]["condition"].endswith("attribute_exists(#pk)")
