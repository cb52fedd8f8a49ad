"""dynamore.rest._events: the four Lambda HTTP event shapes in, each source's response shape
out. The events below follow AWS's documented examples (API Gateway REST API proxy payload 1.0,
HTTP API payload 2.0, Lambda Function URLs, ALB with and without multi-value headers); the
other REST tests build their requests with these builders (in tests/rest_kit.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynamore.rest._events import ALB, V1, V2, EventError, parse_event, response_for
from tests.rest_kit import BUILDERS, alb_event, http_v2_event, rest_v1_event

KINDS = {"rest-v1": V1, "http-v2": V2, "function-url": V2, "alb": ALB, "alb-multi": ALB}


@pytest.mark.parametrize("source", sorted(BUILDERS))
@pytest.mark.parametrize("base64_body", [False, True])
def test_every_shape_gives_the_same_request(source: str, base64_body: bool) -> None:
    body = json.dumps({"name": "Zoë"}).encode()
    event = BUILDERS[source](
        "post",
        "/person/a%20b" if source != "rest-v1" else "/person/a b",
        query="age[ge]=18&name=J%C3%BCrgen&tag=a&tag=b",
        body=body,
        headers={"Content-Type": "application/json"},
        base64_body=base64_body,
    )
    request = parse_event(event)
    assert request.kind == KINDS[source]
    assert request.method == "POST"
    assert request.body == body
    assert request.headers["content-type"] == "application/json"
    # An ALB without multi-value headers passes only the last of repeated parameters.
    tags = ["b"] if source == "alb" else ["a", "b"]
    assert request.query == {"age[ge]": ["18"], "name": ["Jürgen"], "tag": tags}
    assert request.request_id


def test_request_ids_come_from_the_source_or_the_invocation() -> None:
    class Context:
        aws_request_id = "lambda-invocation-1"

    assert parse_event(rest_v1_event("GET", "/p", request_id="r1")).request_id == "r1"
    assert parse_event(http_v2_event("GET", "/p", request_id="r2")).request_id == "r2"
    assert parse_event(alb_event("GET", "/p"), Context()).request_id == "lambda-invocation-1"
    # Without a Lambda context (a test, the local server), ALB's trace id stands in.
    assert parse_event(alb_event("GET", "/p")).request_id.startswith("Root=1-")


def test_a_named_stage_is_not_part_of_the_route() -> None:
    assert parse_event(http_v2_event("GET", "/person/1", stage="prod")).path == "/person/1"
    assert parse_event(http_v2_event("GET", "/person/1")).path == "/person/1"


@pytest.mark.parametrize(
    "event, base",
    [
        (rest_v1_event("POST", "/person"), "/prod"),  # requestContext.path: /prod/person
        (rest_v1_event("GET", "/"), "/prod"),
        (rest_v1_event("POST", "/person", custom_domain=True), ""),
        (http_v2_event("POST", "/person"), ""),
        (http_v2_event("POST", "/person", stage="prod"), "/prod"),
        (http_v2_event("POST", "/person", function_url=True), ""),
        (alb_event("POST", "/person"), ""),
        (alb_event("POST", "/person", multi_value=True), ""),
    ],
)
def test_the_base_is_what_precedes_the_route_in_the_clients_path(
    event: dict[str, Any], base: str
) -> None:
    request = parse_event(event)
    client_path = {V1: event["requestContext"].get("path"), V2: event.get("rawPath")}
    assert request.base == base
    assert base + request.path == client_path.get(request.kind, event.get("path"))


@pytest.mark.parametrize(
    "event, message",
    [
        ([], "not an object"),
        ({"hello": "world"}, "not an API Gateway"),
        ({**http_v2_event("POST", "/p"), "body": "!!", "isBase64Encoded": True}, "base64"),
        ({**rest_v1_event("POST", "/p"), "body": 5}, "must be a string"),
    ],
)
def test_what_is_no_http_event_is_an_event_error(event: Any, message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse_event(event)


def test_each_source_gets_its_own_response_shape() -> None:
    headers = {"Content-Type": "application/json", "X-Request-Id": "r"}
    v1 = response_for(parse_event(rest_v1_event("GET", "/p")), 200, headers, "{}")
    v2 = response_for(parse_event(http_v2_event("GET", "/p")), 200, headers, "{}")
    alb = response_for(parse_event(alb_event("GET", "/p")), 404, headers, "{}")
    alb_multi = response_for(parse_event(alb_event("GET", "/p", multi_value=True)), 201, {}, "")
    assert v1 == {"statusCode": 200, "headers": headers, "body": "{}", "isBase64Encoded": False}
    assert v2 == v1
    assert alb["statusDescription"] == "404 Not Found" and alb["headers"] == headers
    assert "multiValueHeaders" not in alb
    assert alb_multi["statusDescription"] == "201 Created"
    assert alb_multi["multiValueHeaders"] == {} and "headers" not in alb_multi
    multi = response_for(parse_event(alb_event("GET", "/p", multi_value=True)), 200, headers, "")
    assert multi["multiValueHeaders"] == {k: [v] for k, v in headers.items()}


@pytest.mark.parametrize("source", ["rest-v1", "http-v2", "function-url", "alb"])
def test_the_events_here_are_the_shapes_powertools_models_accept(source: str) -> None:
    """A check of the builders against an outside reading of AWS's documentation: Powertools'
    parser models of the same events. (Its ALB model knows only the single-value form.)"""
    from aws_lambda_powertools.utilities.parser import models

    model = {
        "rest-v1": models.APIGatewayProxyEventModel,
        "http-v2": models.APIGatewayProxyEventV2Model,
        "function-url": models.LambdaFunctionUrlModel,
        "alb": models.AlbModel,
    }[source]
    for base64_body in (False, True):
        event = BUILDERS[source](
            "POST", "/person", query="a=1&b[ge]=2", body=b'{"x": 1}', base64_body=base64_body
        )
        model.model_validate(event)
