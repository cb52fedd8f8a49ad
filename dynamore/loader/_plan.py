"""The Step Functions state machine that loads a JSON Lines file from S3 through
:func:`dynamore.loader.map_handler` (what ``dynamore load-plan`` prints).

One Distributed Map state: its item reader streams the file's lines from S3, its item selector
attaches each line's index (so rejects name the line), its item batcher hands batches to the
Lambda function, and the task's ``Retry`` on ``BatchNotSettled`` (with full jitter) replays
batches that throttling or the time limit left unsettled. Once those retries run out a batch
counts as failed, and the run fails when more than ``tolerated_failure_percentage`` of its
items did. Lambda's own transient errors are retried too, as AWS recommends for every Lambda
task.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional

from dynamore.exceptions import ValidationError

__all__ = ["main", "state_machine"]

# The errors AWS documents as transient for a Lambda task (worth retrying whatever the code).
_LAMBDA_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def _count(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(name, f"must be an integer from {low} to {high}, got {value!r}")
    return value


def state_machine(
    *,
    bucket: str,
    key: str,
    function_arn: str,
    table: str,
    entity: str,
    batch_size: int = 500,
    max_concurrency: int = 50,
    tolerated_failure_percentage: int = 0,
    retry_attempts: int = 6,
    results_prefix: Optional[str] = None,
) -> dict[str, Any]:
    """The Amazon States Language definition of a load of ``s3://bucket/key`` (JSON Lines)
    by the Lambda function ``function_arn``, itself built with ``map_handler`` for ``entity``
    (``module:Class``, recorded in the definition) and ``table``.

    ``batch_size`` lines go to one invocation; ``max_concurrency`` invocations run at once
    (size it with the table's write capacity); unsettled batches are retried
    ``retry_attempts`` times; ``results_prefix`` writes the batch results (rejects included)
    to the same bucket under that prefix instead of into the execution's output.
    """
    for name, value in (("bucket", bucket), ("key", key), ("function", function_arn)):
        if not isinstance(value, str) or not value:
            raise ValidationError(name, "must be a non-empty string")
    # An integer: the States Language schema refuses fractions.
    percentage = _count("tolerated failure percentage", tolerated_failure_percentage, 0, 100)
    load_batch: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "Retry": [
            {
                "ErrorEquals": ["BatchNotSettled"],
                "IntervalSeconds": 2,
                "BackoffRate": 2.0,
                "MaxAttempts": _count("retry attempts", retry_attempts, 0, 99),
                "JitterStrategy": "FULL",
            },
            {
                "ErrorEquals": _LAMBDA_TRANSIENT,
                "IntervalSeconds": 1,
                "BackoffRate": 2.0,
                "MaxAttempts": 3,
                "JitterStrategy": "FULL",
            },
        ],
        "End": True,
    }
    load: dict[str, Any] = {
        "Type": "Map",
        "Comment": f"Load {entity} items into DynamoDB table {table}",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSONL"},
            "Parameters": {"Bucket": bucket, "Key": key},
        },
        "ItemSelector": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value"},
        "ItemBatcher": {
            "MaxItemsPerBatch": _count("batch size", batch_size, 1, 100_000),
            "BatchInput": {"table": table, "entity": entity},
        },
        "MaxConcurrency": _count("max concurrency", max_concurrency, 1, 10_000),
        "ToleratedFailurePercentage": percentage,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "LoadBatch",
            "States": {"LoadBatch": load_batch},
        },
        "End": True,
    }
    if results_prefix is not None:
        load["ResultWriter"] = {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": bucket, "Prefix": results_prefix},
        }
    return {
        "Comment": f"dynamore load of s3://{bucket}/{key} into {table}",
        "StartAt": "Load",
        "States": {"Load": load},
    }


def main(argv: Optional[list[str]] = None) -> int:
    """``dynamore load-plan``: print the state machine definition (JSON) on stdout; exit
    status 2 with one ``dynamore load-plan: error:`` line on bad options."""
    parser = argparse.ArgumentParser(
        prog="dynamore load-plan",
        description="Print the Step Functions state machine that loads a JSON Lines file from "
        "S3 through a Lambda function built with dynamore.loader.map_handler.",
    )
    parser.add_argument("--bucket", required=True, help="the S3 bucket of the input")
    parser.add_argument("--key", required=True, help="the S3 key of the JSON Lines input")
    parser.add_argument("--table", required=True, help="the DynamoDB table (recorded)")
    parser.add_argument("--entity", required=True, metavar="MODULE:CLASS", help="(recorded)")
    parser.add_argument("--function", required=True, metavar="ARN", help="the Lambda function")
    parser.add_argument("--batch-size", type=int, default=500, help="lines per invocation")
    parser.add_argument("--max-concurrency", type=int, default=50, help="invocations at once")
    parser.add_argument(
        "--tolerated-failure-percentage",
        type=int,
        default=0,
        help="percentage of items in failed batches the run tolerates (default 0)",
    )
    parser.add_argument("--retry-attempts", type=int, default=6, help="replays of a batch")
    parser.add_argument("--results-prefix", help="write batch results to the bucket here")
    args = parser.parse_args(argv)
    try:
        definition = state_machine(
            bucket=args.bucket,
            key=args.key,
            function_arn=args.function,
            table=args.table,
            entity=args.entity,
            batch_size=args.batch_size,
            max_concurrency=args.max_concurrency,
            tolerated_failure_percentage=args.tolerated_failure_percentage,
            retry_attempts=args.retry_attempts,
            results_prefix=args.results_prefix,
        )
    except ValidationError as exc:
        sys.stderr.write(f"dynamore load-plan: error: {exc}\n")
        return 2
    sys.stdout.write(json.dumps(definition, indent=2) + "\n")
    return 0
