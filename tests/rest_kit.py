"""What the REST tests share: the entity types of the REST API under test, and builders of
Lambda HTTP events in each source's documented shape (API Gateway REST API proxy payload 1.0,
HTTP API payload 2.0, Lambda Function URLs, ALB with and without multi-value headers)."""

from __future__ import annotations

import base64
from typing import Any, Callable, Optional
from urllib.parse import quote

from dynamore.entity import Entity


class Person(Entity):
    SCHEMA = {
        "title": "PERSON",
        "type": "object",
        "required": ["id_number", "name"],
        "properties": {
            "id_number": {"type": "string"},
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 0},
            "gender": {"type": "string", "enum": ["male", "female"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "address": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
            },
        },
        "additionalProperties": False,
    }
    ID_ATTRIBUTE = "id_number"
    INDEXES = {"GSI1": {"partition": ["gender"], "sort": ["age"]}}


class Counter(Entity):
    """An integer id; its pre hook refuses to create a locked counter and to replace or
    delete one that is locked (a patch may lock it). With ``bug`` set (a test of the 500
    path), it fails like a bug for n = 666: off by default, so that an API client exploring
    the served API (schemathesis) meets no deliberate bug."""

    bug = False

    SCHEMA = {
        "title": "COUNTER",
        "type": "object",
        "required": ["n"],
        "properties": {"n": {"type": "integer"}, "locked": {"type": "boolean"}},
    }
    ID_ATTRIBUTE = "n"

    @classmethod
    def pre(
        cls, http_method: str, data: dict[str, Any], existing_item: Optional[dict[str, Any]] = None
    ) -> bool:
        if cls.bug and data.get("n") == 666:
            raise RuntimeError("secret internal detail")
        if http_method == "PATCH":
            return True
        return not (existing_item if http_method == "PUT" else data or {}).get("locked")


class Doc(Entity):
    """A versioned type: ETag and If-Match. Its ``pre`` hook runs ``on_put`` (once) before a
    replacement is sent, to let a test change the item at that very moment."""

    SCHEMA = {
        "title": "DOC",
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "meta": {"type": "object"},
            "version": {"type": "integer"},
        },
        "additionalProperties": False,
    }
    ID_ATTRIBUTE = "id"
    VERSION_ATTRIBUTE = "version"
    on_put: Optional[Callable[[], None]] = None

    @classmethod
    def pre(
        cls, http_method: str, data: dict[str, Any], existing_item: Optional[dict[str, Any]] = None
    ) -> bool:
        hook, Doc.on_put = Doc.on_put, None
        if http_method == "PUT" and hook is not None:
            hook()
        return True


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
    custom_domain: bool = False,
) -> dict[str, Any]:
    """API Gateway REST API, Lambda proxy integration (payload 1.0), as the docs show it:
    header names as the client sent them, both single- and multi-value maps, parameters
    decoded, null when absent. Called on the ``execute-api`` URL, the stage (``prod``) is in
    ``requestContext.path`` but not in ``path``; through a custom domain (``custom_domain``,
    its API mapping standing for the stage) it is in neither."""
    domain = (
        "api.example.com" if custom_domain else "1234567890.execute-api.us-east-1.amazonaws.com"
    )
    sent = {"Accept": "*/*", "Host": domain}
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
            "domainName": domain,
            "path": path if custom_domain else f"/prod{path}",
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
