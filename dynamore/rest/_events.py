"""Lambda HTTP events in, Lambda HTTP responses out: the four shapes AWS sends a function.

=====================  ======================================  ==================================
source                 recognised by                           answered with
=====================  ======================================  ==================================
HTTP API (payload 2.0) ``"version": "2.0"``                    ``statusCode``, ``headers``,
and Function URLs                                              ``cookies``, ``body``
REST API (payload 1.0) ``httpMethod`` and a ``requestContext`` ``statusCode``, ``headers``,
                       without ``elb``                         ``body``
ALB                    ``requestContext.elb``                  ``statusDescription``, and
                                                               ``multiValueHeaders`` exactly when
                                                               the event had them (the target
                                                               group's setting)
=====================  ======================================  ==================================

Every shape may carry a base64 body (``isBase64Encoded``); :func:`parse_event` decodes it to
bytes. Query strings are taken raw where the event has them (payload 2.0's ``rawQueryString``),
so ``age[ge]=18`` arrives as written; ALB passes its parameters still URL-encoded, the REST API
decoded. Header names are lower-cased. Responses are JSON text, never base64: every body this
package writes is UTF-8 text, which all four sources take as is.

Paths: the routes are matched on the path below the API's stage; :attr:`Request.base` keeps
what came before it in the path the client used, so that links the API hands out (``Location``)
can be followed. A REST API called on its ``execute-api`` URL has the stage in that path
(``requestContext.path`` is ``/prod/person`` while ``path`` is ``/person``), an HTTP API's named
stage is in ``rawPath`` (``/prod/person``; not the ``$default`` stage's), and Function URLs, ALB
and custom domains (whose API mapping stands for the stage) have none.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from typing import Any, Optional
from urllib.parse import parse_qsl, unquote_plus

__all__ = ["V1", "V2", "ALB", "EventError", "Request", "parse_event", "response_for"]

V1 = "v1"
V2 = "v2"
ALB = "alb"

_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class EventError(ValueError):
    """The event is not one of the HTTP shapes, or its body is not valid base64."""


class Request:
    """One HTTP request, whatever event shape it came in: ``method`` (upper case), ``path``
    (as received: payload 2.0 and ALB paths are still percent-encoded, the REST API's are
    not; the router decodes segments by ``kind``), ``query`` (name ->
    values, decoded), ``headers`` (lower-case name -> value, repeated ones joined by ``,``),
    ``body`` (bytes or None), ``request_id`` and ``kind`` (:data:`V1`, :data:`V2`, :data:`ALB`),
    plus ``multi_value`` (an ALB event that wants ``multiValueHeaders`` back) and ``base``,
    what precedes ``path`` in the path the client used (``""``, or a stage: ``"/prod"``)."""

    __slots__ = (
        "base",
        "body",
        "headers",
        "kind",
        "method",
        "multi_value",
        "path",
        "query",
        "request_id",
    )

    def __init__(
        self,
        *,
        kind: str,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Optional[bytes],
        request_id: str,
        multi_value: bool = False,
        base: str = "",
    ) -> None:
        self.kind = kind
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.request_id = request_id
        self.multi_value = multi_value
        self.base = base


def _body(event: Mapping[str, Any]) -> Optional[bytes]:
    body = event.get("body")
    if body is None:
        return None
    if not isinstance(body, str):
        raise EventError("the event's body must be a string")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise EventError("the event's body is not valid base64") from None
    return body.encode("utf-8", "surrogatepass")


def _joined(
    headers: Optional[Mapping[str, Any]], multi: Optional[Mapping[str, Any]]
) -> dict[str, str]:
    out: dict[str, str] = {}
    if multi:
        for name, values in multi.items():
            if values:
                out[name.lower()] = ",".join(values)
    elif headers:
        for name, value in headers.items():
            if value is not None:
                out[name.lower()] = value
    return out


def _query_lists(
    single: Optional[Mapping[str, Any]],
    multi: Optional[Mapping[str, Any]],
    *,
    encoded: bool,
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    decode = unquote_plus if encoded else (lambda text: text)
    if multi:
        for name, values in multi.items():
            out[decode(name)] = [decode(v) for v in values or ()]
    elif single:
        for name, value in single.items():
            out[decode(name)] = [decode(value if value is not None else "")]
    return out


def _raw_query(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        out.setdefault(name, []).append(value)
    return out


def parse_event(event: Any, context: Any = None) -> Request:
    """The :class:`Request` an API Gateway (REST or HTTP API), Function URL or ALB event
    describes; EventError for anything else. The request id is API Gateway's own
    (``requestContext.requestId``), else the Lambda invocation's (``context.aws_request_id``),
    else a new UUID (ALB sends none)."""
    if not isinstance(event, Mapping):
        raise EventError("the event is not an object")
    ctx = event.get("requestContext")
    ctx = ctx if isinstance(ctx, Mapping) else {}
    request_id = ctx.get("requestId") or getattr(context, "aws_request_id", None) or ""
    request_id = str(request_id) or uuid.uuid4().hex
    if event.get("version") == "2.0":
        http = ctx.get("http") or {}
        method = http.get("method")
        path = event.get("rawPath") or http.get("path") or "/"
        stage = ctx.get("stage")
        base = ""
        # A named stage appears in rawPath ("/prod/person"); routes are below it.
        if stage and stage != "$default" and path.startswith(f"/{stage}/"):
            base = f"/{stage}"
            path = path[len(base) :]
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        if event.get("cookies") and "cookie" not in headers:
            headers["cookie"] = "; ".join(event["cookies"])
        return Request(
            kind=V2,
            method=str(method or "").upper(),
            path=path,
            query=_raw_query(event.get("rawQueryString") or ""),
            headers=headers,
            body=_body(event),
            request_id=request_id,
            base=base,
        )
    method = event.get("httpMethod")
    if not isinstance(method, str) or not isinstance(event.get("path"), str):
        raise EventError("not an API Gateway, Function URL or ALB event")
    alb = "elb" in ctx
    multi_value = alb and "multiValueHeaders" in event
    if alb and not ctx.get("requestId"):
        request_id = (
            getattr(context, "aws_request_id", None)
            or (event.get("headers") or {}).get("x-amzn-trace-id")
            or request_id
        )
    path = event["path"]
    return Request(
        kind=ALB if alb else V1,
        method=method.upper(),
        path=path,
        query=_query_lists(
            event.get("queryStringParameters"),
            event.get("multiValueQueryStringParameters"),
            encoded=alb,
        ),
        headers=_joined(event.get("headers"), event.get("multiValueHeaders")),
        body=_body(event),
        request_id=str(request_id),
        multi_value=multi_value,
        base="" if alb else _v1_base(ctx.get("path"), path),
    )


def _v1_base(client_path: Any, path: str) -> str:
    """What precedes a REST API's ``path`` (below the stage) in ``requestContext.path`` (the
    path the client used): the stage on the ``execute-api`` URL, nothing on a custom domain."""
    if (
        isinstance(client_path, str)
        and len(client_path) > len(path)
        and client_path.endswith(path)
        and client_path.startswith("/")
    ):
        return client_path[: len(client_path) - len(path)].rstrip("/")
    return ""


def response_for(
    request: Optional[Request], status: int, headers: dict[str, str], body: str
) -> dict[str, Any]:
    """The response dict the event's source expects (see the module docstring). Without a
    request (an event of no known shape), the payload 2.0 form, which Function URLs and HTTP
    APIs take and the others ignore."""
    kind = request.kind if request is not None else V2
    if kind == V2:
        return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}
    response: dict[str, Any] = {"statusCode": status, "body": body, "isBase64Encoded": False}
    if kind == ALB:
        response["statusDescription"] = f"{status} {_REASONS.get(status, '')}".rstrip()
        if request is not None and request.multi_value:
            response["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
        else:
            response["headers"] = headers
        return response
    response["headers"] = headers
    return response
