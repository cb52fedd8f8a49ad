"""dynamore.rest._events: the four Lambda HTTP event shapes in, each source's response shape
out. The events below follow AWS's documented examples (API Gateway REST API proxy payload 1.0,
HTTP API payload 2.0, Lambda Function URLs, ALB with and without multi-value headers); the
other REST tests build their requests with these builders."""

from __future__ import annotations

import base64
import json
from typing import Any, Optional
from urllib.parse import quote

import pytest

from dynamore.rest._events import ALB, V1, V2, EventError, parse_event, response_for

ACCOUNT = "123456789012"


def _split_query(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


def rest_v1_event(
    method: str,
    path: str,
    *,
    query: str = "",
    body: Optional[bytes] = None,
    headers: Optional[dict[str, str]] = None,
    base64_body: bool = False,
    request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
) -> dict[str, Any]:
    """API Gateway REST API, Lambda proxy integration (payload 1.0), as the docs show it:
    header names as the client sent them, both single- and multi-value maps, parameters
    decoded, null when absent."""
    sent = {"Accept": "*/*", "Host": "1234567890.execute-api.us-east-1.amazonaws.com"}
    sent.update(headers or {})
    pairs = _split_query(query)
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": single or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "1234567890",
            "resourceId": "123456",
            "stage": "prod",
            "requestId": request_id,
            "requestTime": "09/Apr/2015:12:34:56 +0000",
            "requestTimeEpoch": 1428582896000,
            "identity": {"sourceIp": "192.0.2.1", "userAgent": "Custom User Agent String"},
            "path": f"/prod{path}",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "protocol": "HTTP/1.1",
        },
        "body": _text(body, base64_body),
        "isBase64Encoded": base64_body,
    }


def http_v2_event(
    method: str,
    path: str,
    *,
    query: str = "",
    body: Optional[bytes] = None,
    headers: Optional[dict[str, str]] = None,
    base64_body: bool = False,
    request_id: str = "JKJaXmPLvHcESHA=",
    stage: str = "$default",
    function_url: bool = False,
) -> dict[str, Any]:
    """HTTP API payload 2.0 (``function_url``: a Lambda Function URL request, the same
    format): lower-case headers, raw path and query string as sent, cookies apart."""
    sent = {"accept": "*/*", "user-agent": "curl/8.0"}
    sent.update({k.lower(): v for k, v in (headers or {}).items()})
    domain = (
        "abcdefg.lambda-url.us-east-1.on.aws"
        if function_url
        else "id.execute-api.us-east-1.amazonaws.com"
    )
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "cookies": ["session=abc"],
        "headers": sent,
        "queryStringParameters": dict(_split_query(query)) or None,
        "requestContext": {
            "accountId": "anonymous" if function_url else ACCOUNT,
            "apiId": "abcdefg",
            "domainName": domain,
            "domainPrefix": "abcdefg",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "curl/8.0",
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": stage,
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1583348638390,
        },
        "body": _text(body, base64_body),
        "isBase64Encoded": base64_body,
    }


def alb_event(
    method: str,
    path: str,
    *,
    query: str = "",
    body: Optional[bytes] = None,
    headers: Optional[dict[str, str]] = None,
    base64_body: bool = False,
    multi_value: bool = False,
) -> dict[str, Any]:
    """An ALB request to a Lambda target: no request id, parameters still URL-encoded, and
    either ``headers``/``queryStringParameters`` or (multi-value headers on) their
    ``multiValue`` forms."""
    sent = {
        "accept": "*/*",
        "host": "lambda-alb-123578498.us-east-1.elb.amazonaws.com",
        "x-amzn-trace-id": "Root=1-5c536348-3d683b8b04734faae651f476",
        "x-forwarded-proto": "https",
    }
    sent.update({k.lower(): v for k, v in (headers or {}).items()})
    pairs = [(quote(k, safe=""), quote(v, safe="")) for k, v in _split_query(query)]
    event: dict[str, Any] = {
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
                "targetgroup/lambda-279XGJDqGZ5rsrHC2Fjr/49e9d65c45c6791a"
            }
        },
        "httpMethod": method,
        "path": path,
        "body": _text(body, base64_body) or "",
        "isBase64Encoded": base64_body,
    }
    if multi_value:
        event["multiValueHeaders"] = {k: [v] for k, v in sent.items()}
        multi: dict[str, list[str]] = {}
        for name, value in pairs:
            multi.setdefault(name, []).append(value)
        event["multiValueQueryStringParameters"] = multi
    else:
        event["headers"] = sent
        event["queryStringParameters"] = dict(pairs)
    return event


def _text(body: Optional[bytes], base64_body: bool) -> Optional[str]:
    if body is None:
        return None
    return base64.b64encode(body).decode() if base64_body else body.decode()


BUILDERS = {
    "rest-v1": rest_v1_event,
    "http-v2": http_v2_event,
    "function-url": lambda *a, **k: http_v2_event(*a, function_url=True, **k),
    "alb": alb_event,
    "alb-multi": lambda *a, **k: alb_event(*a, multi_value=True, **k),
}
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
