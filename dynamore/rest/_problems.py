"""Errors as RFC 9457 problem details (``application/problem+json``), one status per cause.

:class:`HttpError` is what the REST layer raises itself (a malformed body, an unknown route);
:func:`problem_for` maps it and every dynamore error onto a status, a title and a detail. An
error that maps to no status is a bug: 500, with a detail that says only that, never the
exception's text or a stack trace (those go to the ``dynamore.rest`` logger).
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from dynamore.codec import MAX_ITEM_BYTES
from dynamore.exceptions import (
    AlreadyExists,
    ConcurrentUpdate,
    InvalidCursor,
    NotFound,
    PreconditionFailed,
    ServiceError,
    ThrottlingError,
    TransportError,
    ValidationError,
)

__all__ = [
    "PROBLEM_TYPE",
    "RETRY_AFTER",
    "TITLES",
    "HttpError",
    "Problem",
    "problem_for",
]

_log = logging.getLogger("dynamore.rest")

#: The problem ``type`` of every problem this API returns: RFC 9457's "about:blank", whose
#: title is the status's own phrase.
PROBLEM_TYPE = "about:blank"
#: Seconds a client should wait before retrying a 429 or 503.
RETRY_AFTER = 1

TITLES = {
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


class HttpError(Exception):
    """An error the REST layer finds itself: ``status`` and ``detail``; ``headers`` to add
    (``Allow`` for a 405); ``errors``, a list of ``{"path", "message"}`` for a 422; ``current``,
    the stored entity a 412 was about (its ``ETag`` goes into ``headers``)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Optional[dict[str, str]] = None,
        errors: Optional[list[dict[str, str]]] = None,
        current: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors
        self.current = current


class Problem:
    """A problem response: ``status``, extra ``headers`` and the ``body`` (a dict)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers


def _problem(
    status: int,
    detail: str,
    headers: Optional[dict[str, str]] = None,
    errors: Optional[list[dict[str, str]]] = None,
    current: Optional[dict[str, Any]] = None,
) -> Problem:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE,
        "title": TITLES[status],
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    if current is not None:
        body["current"] = current
    extra = dict(headers or {})
    if status in (429, 503):
        extra["Retry-After"] = str(RETRY_AFTER)
    return Problem(status, body, extra)


def validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    """The ``errors`` member of a 422: one entry, the attribute's JSON Pointer and the rule."""
    path = exc.path.replace("~", "~0").replace("/", "~1")
    pointer = "/" + "/".join(path.replace("[", ".").replace("]", "").split(".")) if path else ""
    return [{"path": pointer, "message": exc.rule}]


def problem_for(exc: BaseException, *, query: bool = False, request_id: str = "") -> Problem:
    """The problem ``exc`` stands for. ``query``: a ValidationError is about the query string
    (400), not about entity data (422). ``request_id`` goes into the log record of a 500."""
    if isinstance(exc, HttpError):
        return _problem(exc.status, exc.detail, exc.headers, exc.errors, exc.current)
    if isinstance(exc, InvalidCursor):
        return _problem(400, f"invalid cursor: {exc.rule}")
    if isinstance(exc, ValidationError):
        if not exc.path and exc.rule.startswith("item of ") and str(MAX_ITEM_BYTES) in exc.rule:
            return _problem(413, exc.rule)  # the codec's item-size check
        if query:
            return _problem(400, f"invalid query: {exc}")
        return _problem(422, str(exc), errors=validation_errors(exc))
    if isinstance(exc, NotFound):
        return _problem(404, str(exc))
    if isinstance(exc, AlreadyExists):
        return _problem(409, f"already exists: {exc}")
    if isinstance(exc, ConcurrentUpdate):
        return _problem(409, str(exc))
    if isinstance(exc, PreconditionFailed):
        return _problem(412, str(exc))
    if isinstance(exc, ThrottlingError):
        return _problem(429, "DynamoDB throttled the request; retry later")
    if isinstance(exc, TransportError) or (isinstance(exc, ServiceError) and exc.status >= 500):
        return _problem(503, "DynamoDB is unavailable; retry later")
    if isinstance(exc, ServiceError) and "size" in exc.message and "exceed" in exc.message:
        return _problem(413, "the item is over DynamoDB's size limit of 400 KB")
    _log.error("unhandled error in the REST handler, request id %s", request_id, exc_info=exc)
    return _problem(500, "an internal error; the request id identifies it in the logs")
