"""The Distributed Map state machine of ``dynamore load-plan``: valid for the asl-validator npm
package (installed by ``make tools``), retrying on the error map_handler raises, and shaping
items the way map_handler reads them."""

from __future__ import annotations

import json
import pathlib
import subprocess
from typing import Any

import pytest

from dynamore.exceptions import BatchNotSettled, ValidationError
from dynamore.loader._map import _value
from dynamore.loader._plan import state_machine

VALIDATOR = (
    pathlib.Path(__file__).parent.parent / ".tools" / "node_modules" / ".bin" / "asl-validator"
)
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:load-people"


def plan(**options: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "bucket": "my-bucket",
        "key": "in/people.jsonl",
        "function_arn": ARN,
        "table": "MyTable",
        "entity": "myapp.models:Person",
    }
    return state_machine(**{**base, **options})


def validate(
    definition: dict[str, Any], tmp_path: pathlib.Path
) -> subprocess.CompletedProcess[str]:
    assert VALIDATOR.exists(), f"{VALIDATOR} is missing: run `make tools`"
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition))
    return subprocess.run(
        [str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "options",
    [{}, {"results_prefix": "results/", "tolerated_failure_percentage": 3, "batch_size": 1}],
)
def test_the_definition_is_valid_amazon_states_language(
    options: dict[str, Any], tmp_path: pathlib.Path
) -> None:
    result = validate(plan(**options), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_does_refuse_a_broken_definition(tmp_path: pathlib.Path) -> None:
    # The control: without it, a validator that accepts anything would pass the test above.
    broken = plan()
    del broken["States"]["Load"]["ItemProcessor"]["StartAt"]
    assert validate(broken, tmp_path).returncode != 0


def test_unsettled_batches_are_retried_by_the_name_map_handler_raises() -> None:
    task = plan(retry_attempts=9)["States"]["Load"]["ItemProcessor"]["States"]["LoadBatch"]
    retry = task["Retry"][0]
    assert retry["ErrorEquals"] == [BatchNotSettled.__name__]
    assert retry["MaxAttempts"] == 9 and retry["JitterStrategy"] == "FULL"


def test_the_item_selector_shapes_items_as_map_handler_reads_them() -> None:
    selector = plan()["States"]["Load"]["ItemSelector"]
    # What Step Functions makes of it for line 41 of the file.
    context = {"$$.Map.Item.Index": 41, "$$.Map.Item.Value": {"id_number": "a"}}
    item = {name[: -len(".$")]: context[path] for name, path in selector.items()}
    assert _value(item) == {"id_number": "a"}
    assert item["index"] == 41


@pytest.mark.parametrize(
    "options, name",
    [
        ({"bucket": ""}, "bucket"),
        ({"function_arn": None}, "function"),
        ({"batch_size": 0}, "batch size"),
        ({"max_concurrency": True}, "max concurrency"),
        ({"retry_attempts": 100}, "retry attempts"),
        ({"tolerated_failure_percentage": 101}, "tolerated failure percentage"),
        ({"tolerated_failure_percentage": 2.5}, "tolerated failure percentage"),
    ],
)
def test_bad_options_are_refused_by_name(options: dict[str, Any], name: str) -> None:
    with pytest.raises(ValidationError, match=f"^{name}: "):
        plan(**options)


def test_the_load_plan_command_prints_the_definition(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dynamore.cli import main

    argv = ["load-plan", "--bucket", "b", "--key", "people.jsonl", "--table", "T"]
    argv += ["--entity", "m:P", "--function", ARN, "--tolerated-failure-percentage", "5"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == plan(
        bucket="b", key="people.jsonl", table="T", entity="m:P", tolerated_failure_percentage=5
    )
    assert validate(printed, tmp_path).returncode == 0
    assert main([*argv[:-2], "--batch-size", "0"]) == 2
    err = capsys.readouterr().err
    assert (
        err == "dynamore load-plan: error: batch size: must be an integer from 1 to 100000, got 0\n"
    )
