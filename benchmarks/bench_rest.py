"""The REST API on Lambda: dynamore.rest's handler vs the same API built the way Lambda users
build it today, AWS Lambda Powertools' ``APIGatewayHttpResolver`` + a boto3 resource +
``jsonschema``.

Both apps are the module a Lambda function would deploy (sources below, written to a temporary
folder): one entity type (a person: id, name, email, age, active, tags, address), routes
``GET /person/{id}``, ``POST /person`` (validated, conditional on the id being new, 201 with
``Location``) and ``GET /person?limit=25`` (a page and a cursor). Both read the table name and
the endpoint from the environment, as deployed code does.

Cases:

- ``GET item``, ``POST``, ``list 25``: the handler's CPU per request, called in process with
  HTTP API (payload 2.0) events built beforehand (every POST a new id), against DynamoDB Local.
  The CPU is this process's only: DynamoDB Local's is not counted.
- ``cold start``: a new Python process imports the handler module and answers its first
  request (a ``GET item``); CPU and wall time of the whole child, as ``bench_coldstart``
  measures them (bytecode cached, Lambda's environment variables).

Targets (issue 13): >= 5x less CPU per request, >= 3x faster cold start.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from benchmarks.bench_coldstart import _children_cpu, child_env
from benchmarks.bench_ops import bench_table
from benchmarks.harness import Context, Result, Suite

MODULE = "rest"
POWERTOOLS = "powertools + boto3 + jsonschema"

SCHEMA = {
    "title": "PERSON",
    "type": "object",
    "required": ["id", "name", "email"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        "email": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "active": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {
            "type": "object",
            "properties": {
                "street": {"type": "string"},
                "city": {"type": "string"},
                "zip": {"type": "string"},
            },
        },
    },
    "additionalProperties": False,
}

DYNAMORE_APP = f"""
import os

from dynamore import Client
from dynamore.entity import Entity
from dynamore.rest import RestApi


class Person(Entity):
    SCHEMA = {SCHEMA!r}
    ID_ATTRIBUTE = "id"


client = Client()
handler = RestApi(table_name=os.environ["TABLE"], entities=[Person], client=client).handler
"""

POWERTOOLS_APP = f"""
import base64
import json
import os

import boto3
import jsonschema
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from boto3.dynamodb.conditions import Key

SCHEMA = {SCHEMA!r}
validator = jsonschema.Draft7Validator(SCHEMA)
table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
app = APIGatewayHttpResolver()


def _data(item):
    item.pop("PK", None)
    item.pop("SK", None)
    return item


@app.get("/person/<person_id>")
def get_person(person_id):
    item = table.get_item(Key={{"PK": "PERSON", "SK": person_id}}).get("Item")
    if item is None:
        raise NotFoundError(f"no person {{person_id}}")
    return _data(item)


@app.post("/person")
def create_person():
    body = app.current_event.json_body
    errors = [e.message for e in validator.iter_errors(body)]
    if errors:
        return Response(422, content_types.APPLICATION_JSON, json.dumps({{"errors": errors}}))
    try:
        table.put_item(
            Item={{"PK": "PERSON", "SK": body["id"], **body}},
            ConditionExpression="attribute_not_exists(PK)",
        )
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return Response(409, content_types.APPLICATION_JSON, json.dumps({{"detail": "exists"}}))
    return Response(
        201, content_types.APPLICATION_JSON, json.dumps(body),
        headers={{"Location": "/person/" + body["id"]}},
    )


@app.get("/person")
def list_people():
    params = app.current_event.query_string_parameters or {{}}
    request = {{"KeyConditionExpression": Key("PK").eq("PERSON"),
               "Limit": int(params.get("limit", 25))}}
    if params.get("cursor"):
        request["ExclusiveStartKey"] = json.loads(base64.urlsafe_b64decode(params["cursor"]))
    page = table.query(**request)
    last = page.get("LastEvaluatedKey")
    cursor = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
    return {{"items": [_data(item) for item in page["Items"]], "cursor": cursor}}


def handler(event, context):
    return app.resolve(event, context)
"""

APPS = {"dynamore": DYNAMORE_APP, POWERTOOLS: POWERTOOLS_APP}

# The cold-start child: argv = app folder, module name, event (JSON). Prints one JSON line.
_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
module = __import__(sys.argv[2])
t1 = time.perf_counter()
response = module.handler(json.loads(sys.argv[3]), None)
t2 = time.perf_counter()
print(json.dumps({"status": response["statusCode"], "import_ms": (t1 - t0) * 1e3,
                  "first_request_ms": (t2 - t1) * 1e3}))
"""


def person(i: int) -> dict[str, Any]:
    return {
        "id": f"{i:08d}",
        "name": f"Person {i}",
        "email": f"person{i}@example.com",
        "age": 20 + i % 60,
        "active": i % 2 == 0,
        "tags": ["admin", "early-adopter", "fr"][: 1 + i % 3],
        "address": {"street": f"{i} Rue de Rivoli", "city": "Paris", "zip": "75001"},
    }


def event(method: str, path: str, *, query: str = "", body: Any = None) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event, as API Gateway sends it."""
    out: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"accept": "*/*", "content-type": "application/json", "user-agent": "bench"},
        "queryStringParameters": dict(p.split("=", 1) for p in query.split("&")) if query else None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "bench",
            },
            "requestId": "bench-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        out["body"] = json.dumps(body)
    return out


def _load(folder: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, os.path.join(folder, f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _caller(handler: Callable[..., Any], events: Iterator[dict[str, Any]], status: int) -> Any:
    def call() -> None:
        response = handler(next(events), None)
        if response["statusCode"] != status:
            raise RuntimeError(f"expected {status}: {response}")

    return call


def _module_names() -> dict[str, str]:
    return {impl: f"bench_rest_app_{n}" for n, impl in enumerate(APPS)}


def _available() -> list[str]:
    impls = ["dynamore"]
    if importlib.util.find_spec("aws_lambda_powertools") is None:
        print(f"note: aws-lambda-powertools is not installed on this Python: {POWERTOOLS} left out")
    else:
        impls.append(POWERTOOLS)
    return impls


def _per_request(ctx: Context, folder: str, table: str, impls: list[str]) -> list[Result]:
    ops = ctx.n(300, 5)
    suite = Suite(MODULE, ctx)
    names = _module_names()
    calls = ops * suite.rounds + max(1, ops // 10)
    modules = [_load(folder, names[impl]) for impl in impls]
    for n, (impl, module) in enumerate(zip(impls, modules)):
        handler = module.handler
        posts = iter(
            [event("POST", "/person", body=person(1_000_000 * (n + 1) + i)) for i in range(calls)]
        )
        suite.add(
            "GET item",
            impl,
            _caller(handler, _repeat(event("GET", "/person/00000007")), 200),
            ops=ops,
        )
        suite.add("POST", impl, _caller(handler, posts, 201), ops=ops)
        page = event("GET", "/person", query="limit=25")
        suite.add("list 25", impl, _caller(handler, _repeat(page), 200), ops=ops)
    try:
        return suite.run()
    finally:  # each app's connections: dynamore's client, boto3's
        for module in modules:
            (module.client if hasattr(module, "client") else module.table.meta.client).close()


def _repeat(item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    while True:
        yield item


def _cold_start(folder: str, module: str, env: dict[str, str]) -> dict[str, Any]:
    first = json.dumps(event("GET", "/person/00000007"))
    cmd = [sys.executable, "-c", _CHILD, folder, module, first]
    cpu0, wall0 = _children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    wall, cpu = time.perf_counter() - wall0, _children_cpu() - cpu0
    if done.returncode != 0:
        raise RuntimeError(f"cold start child {module} failed:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if report["status"] != 200:
        raise RuntimeError(f"cold start child {module}: first request answered {report}")
    report["cpu_us"], report["wall_us"] = cpu * 1e6, wall * 1e6
    return report


def _cold_starts(ctx: Context, folder: str, table: str, impls: list[str]) -> list[Result]:
    ops, rounds = (1, 1) if ctx.quick else (3, 5)
    names = _module_names()
    samples: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls}
    with tempfile.TemporaryDirectory(prefix="rest-pyc-") as pycache:
        env = child_env(pycache=pycache)
        env["TABLE"] = table
        env["AWS_ENDPOINT_URL_DYNAMODB"] = ctx.endpoint
        for impl in impls:  # bytecode and page cache, as a deployed package has them
            _cold_start(folder, names[impl], env)
        for _ in range(rounds):  # interleaved, so a slow phase hits both alike
            for impl in impls:
                samples[impl] += [_cold_start(folder, names[impl], env) for _ in range(ops)]
    results = []
    for impl, runs in samples.items():
        extra = {
            "import_ms": round(statistics.median(r["import_ms"] for r in runs), 1),
            "first_request_ms": round(statistics.median(r["first_request_ms"] for r in runs), 1),
        }
        cpu = statistics.median(r["cpu_us"] for r in runs)
        wall = statistics.median(r["wall_us"] for r in runs)
        results.append(Result(MODULE, "cold start", impl, ops, rounds, cpu, wall, extra))
    return results


@contextlib.contextmanager
def _environment(**names: str) -> Iterator[None]:
    """The apps read their table and endpoint from the environment, as deployed code does."""
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(ctx: Context) -> list[Result]:
    impls = _available()
    with (
        bench_table(ctx, "rest") as (client, table),
        tempfile.TemporaryDirectory(prefix="rest-apps-") as folder,
    ):
        for impl, name in _module_names().items():
            Path(folder, f"{name}.py").write_text(APPS[impl])
        client.batch_write(
            table, ({"PK": "PERSON", "SK": p["id"], **p} for p in map(person, range(60)))
        )
        with _environment(TABLE=table, AWS_ENDPOINT_URL_DYNAMODB=ctx.endpoint):
            results = _per_request(ctx, folder, table, impls)
        results += _cold_starts(ctx, folder, table, impls)
    lines = [
        f"{r.impl}: import {r.extra['import_ms']} ms, first request "
        f"{r.extra['first_request_ms']} ms"
        for r in results
        if r.case == "cold start"
    ]
    print("cold start, in the child (medians):\n    " + "\n    ".join(lines))
    return results
