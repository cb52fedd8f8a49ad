"""``RestApi``: a whole CRUD API over entity types, as one Lambda handler.

Everything a request needs is built once, when the API is: the route table, per entity type
the query-string parser and the id reader. A request then costs the event's parsing, one dict
look-up, the verb and a ``json.dumps``.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Optional, Union
from urllib.parse import quote, unquote

from dynamore._client import Client
from dynamore.dynamodb_proxy import DynamoDbProxy
from dynamore.entity import Entity
from dynamore.exceptions import ConfigurationError, PreconditionFailed, ValidationError
from dynamore.rest._events import V1, EventError, Request, parse_event, response_for
from dynamore.rest._mergepatch import is_flat, merge_patch
from dynamore.rest._params import QueryParser, text_parser
from dynamore.rest._problems import HttpError, problem_for

__all__ = ["DEFAULT_MAX_BODY", "OPENAPI_PATH", "RestApi"]

#: The largest request body taken (bytes); larger is a 413. DynamoDB's item limit is 400 KB,
#: and JSON text of an item is rarely much larger than the item.
DEFAULT_MAX_BODY = 1 << 20
#: Where the API serves its OpenAPI document.
OPENAPI_PATH = "/openapi.json"

EntityClass = type[Entity]
Item = dict[str, Any]
_JSON = "application/json"
_PROBLEM = "application/problem+json"
_COLLECTION_METHODS = "GET, POST"
_ITEM_METHODS = "DELETE, GET, PATCH, PUT"


def _default(value: Any) -> Any:
    """JSON for the values DynamoDB holds that JSON has no form for."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(_default(v) if isinstance(v, (bytes, Decimal)) else v for v in value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} has no JSON form")


# check_circular=False: every body is decoded data (JSON or DynamoDB's), which cannot hold a
# cycle; the check cost a sixth of encoding a list page (measured: 25 items, 117 -> 93 µs).
_encode = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=_default, check_circular=False
).encode


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value DynamoDB can hold")


class _Collection:
    """One entity type's routes: its name in the path and what reads its requests."""

    __slots__ = ("entity_class", "id_attribute", "name", "query", "read_id", "version_attribute")

    def __init__(self, name: str, entity_class: EntityClass) -> None:
        properties = entity_class.SCHEMA.get("properties", {})
        self.name = name
        self.entity_class = entity_class
        self.id_attribute = entity_class.ID_ATTRIBUTE
        self.version_attribute: Optional[str] = entity_class.VERSION_ATTRIBUTE
        self.read_id = text_parser(properties.get(self.id_attribute))
        self.query = QueryParser(properties, entity_class.index_specs())

    def etag(self, data: Item) -> Optional[str]:
        """The strong ETag of entity ``data``: its version, quoted; None when unversioned."""
        if self.version_attribute is None:
            return None
        version = data.get(self.version_attribute)
        return None if version is None else f'"{version}"'


def _collections(
    entities: Union[Iterable[EntityClass], Mapping[str, EntityClass]],
) -> dict[str, _Collection]:
    pairs = (
        list(entities.items())
        if isinstance(entities, Mapping)
        else [(getattr(e, "_title", "").lower(), e) for e in entities]
    )
    out: dict[str, _Collection] = {}
    for name, entity_class in pairs:
        if not (isinstance(entity_class, type) and issubclass(entity_class, Entity)):
            raise ConfigurationError(f"entities: {entity_class!r} is not an Entity subclass")
        if not isinstance(name, str) or not name or "/" in name or name == "openapi.json":
            raise ConfigurationError(f"entities: {name!r} cannot name a collection in a path")
        if name in out:
            raise ConfigurationError(f"entities: two entity types are named {name!r}")
        out[name] = _Collection(name, entity_class)
    if not out:
        raise ConfigurationError("entities: at least one Entity class is needed")
    return out


class RestApi:
    """A REST API over ``entities`` in ``table_name``, served by :meth:`handler` from API
    Gateway (REST and HTTP APIs), Lambda Function URLs and ALB events.

    ``entities``: Entity classes, each served under its lower-cased schema title
    (``/person``), or a dict of collection name -> class. ``client``, ``check_table`` and
    ``cursor_key`` are :class:`~dynamore.dynamodb_proxy.DynamoDbProxy`'s; ``max_body`` the
    largest request body in bytes (413 beyond).

    >>> api = RestApi(table_name="MyTable", entities=[Person])      # doctest: +SKIP
    >>> handler = api.handler                                       # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        table_name: str,
        entities: Union[Iterable[EntityClass], Mapping[str, EntityClass]],
        client: Optional[Client] = None,
        check_table: bool = True,
        cursor_key: Optional[bytes] = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.table_name = table_name
        self.proxy = DynamoDbProxy(
            table_name=table_name, client=client, check_table=check_table, cursor_key=cursor_key
        )
        self.collections = _collections(entities)
        self.max_body = max_body
        # The document's text per base path (its ``servers``): one entry per stage in use.
        self._openapi_texts: dict[str, str] = {}

    # -- the Lambda entry point ------------------------------------------------------------------

    def handler(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Answer one Lambda event (see :mod:`dynamore.rest._events` for the shapes) with
        the response dict its source expects. Never raises: every failure is a problem
        response, a 500 only for a bug."""
        request: Optional[Request] = None
        try:
            request = parse_event(event, context)
            status, headers, body = self._dispatch(request)
        except EventError as exc:
            return self._problem(request, HttpError(400, str(exc)), context)
        except Exception as exc:  # every error becomes a problem response, never a traceback
            return self._problem(request, exc, context)
        headers["X-Request-Id"] = request.request_id
        return response_for(request, status, headers, body)

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of this API (a new dict each call)."""
        from dynamore.rest._openapi import openapi_document

        return openapi_document(self.collections)

    def _openapi_text(self, base: str) -> str:
        """The document served to a client whose paths start with ``base`` (a stage): its
        ``servers`` says so, so that tools reading it call the routes where they are."""
        text = self._openapi_texts.get(base)
        if text is None:
            document = self.openapi()
            if base:
                document["servers"] = [{"url": base}]
            text = self._openapi_texts[base] = _encode(document)
        return text

    # -- routing ---------------------------------------------------------------------------------

    def _dispatch(self, request: Request) -> tuple[int, dict[str, str], str]:
        path = request.path
        method = request.method
        if path == OPENAPI_PATH:
            if method != "GET":
                raise HttpError(405, f"{method} {path} is not allowed", headers={"Allow": "GET"})
            return 200, {"Content-Type": _JSON}, self._openapi_text(request.base)
        parts = path.strip("/").split("/")
        collection = self.collections.get(parts[0])
        if collection is None or len(parts) > 2:
            raise HttpError(404, f"no such resource: {path}")
        if len(parts) == 1:
            if method == "GET":
                return self._list(collection, request)
            if method == "POST":
                return self._post(collection, request)
            raise HttpError(
                405, f"{method} {path} is not allowed", headers={"Allow": _COLLECTION_METHODS}
            )
        segment = parts[1] if request.kind == V1 else unquote(parts[1])
        if method == "GET":
            return self._get(collection, self._item_id(collection, segment))
        if method == "PUT":
            return self._put(collection, self._item_id(collection, segment), request)
        if method == "PATCH":
            return self._patch(collection, self._item_id(collection, segment), request)
        if method == "DELETE":
            return self._delete(collection, self._item_id(collection, segment), request)
        raise HttpError(405, f"{method} {path} is not allowed", headers={"Allow": _ITEM_METHODS})

    @staticmethod
    def _item_id(collection: _Collection, text: str) -> Any:
        """The id a path segment names, read by the schema's type; 404 for one that no item
        of the type can have (wrong type, empty, over DynamoDB's key size)."""
        try:
            value = collection.read_id(text)
            collection.entity_class.key_for({collection.id_attribute: value})
        except ValueError:  # ValidationError included
            raise HttpError(404, f"no {collection.name} with id {text!r}") from None
        return value

    # -- bodies ----------------------------------------------------------------------------------

    def _body(self, request: Request, *, patch: bool = False) -> Any:
        body = request.body
        if body is not None and len(body) > self.max_body:
            raise HttpError(413, f"the body is over {self.max_body} bytes")
        if not body:
            raise HttpError(400, "a JSON body is needed")
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != _JSON and not (media.startswith("application/") and media.endswith("+json")):
            wanted = "application/merge-patch+json or " if patch else ""
            raise HttpError(415, f"the body must be {wanted}{_JSON}, not {media or 'untyped'}")
        try:
            return json.loads(body, parse_constant=_refuse_constant)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError too
            raise HttpError(400, f"the body is not JSON: {exc}") from None

    @staticmethod
    def _with_path_id(collection: _Collection, data: Any, item_id: Any) -> Item:
        """``data`` with the path's id; a body id that differs is a 422."""
        if not isinstance(data, dict):
            raise ValidationError("", "entity data must be a JSON object")
        name = collection.id_attribute
        if name in data:
            given = data[name]
            if type(given) is not type(item_id) or given != item_id:
                raise HttpError(
                    422,
                    f"the body's {name} {given!r} is not the path's {item_id!r}",
                    errors=[{"path": f"/{name}", "message": "must equal the id in the path"}],
                )
        return {**data, name: item_id}

    # -- verbs -----------------------------------------------------------------------------------

    def _list(self, collection: _Collection, request: Request) -> tuple[int, dict[str, str], str]:
        try:
            where, index, limit, cursor = collection.query.parse(request.query)
            page = self.proxy.query(
                entity_class=collection.entity_class,
                where=where,
                index=index,
                limit=limit,
                cursor=cursor,
            )
        except ValidationError as exc:
            problem = problem_for(exc, query=True)
            raise HttpError(problem.status, problem.body["detail"]) from None
        return 200, {"Content-Type": _JSON}, _encode({"items": page.items, "cursor": page.cursor})

    def _post(self, collection: _Collection, request: Request) -> tuple[int, dict[str, str], str]:
        data = self._body(request)
        stored = self.proxy.post(entity_class=collection.entity_class, data=data)
        # Relative to the path the client posted to, stage included (a link it can follow).
        item_id = quote(str(stored[collection.id_attribute]), safe="")
        location = f"{request.base}/{collection.name}/{item_id}"
        headers = {"Content-Type": _JSON, "Location": location}
        return 201, self._entity_headers(collection, stored, headers), _encode(stored)

    def _get(self, collection: _Collection, item_id: Any) -> tuple[int, dict[str, str], str]:
        data = {collection.id_attribute: item_id}
        item = self.proxy.get(entity_class=collection.entity_class, data=data)
        if item is None:
            raise HttpError(404, f"no {collection.name} with id {item_id!r}")
        headers = self._entity_headers(collection, item, {"Content-Type": _JSON})
        return 200, headers, _encode(item)

    def _put(
        self, collection: _Collection, item_id: Any, request: Request
    ) -> tuple[int, dict[str, str], str]:
        data = self._with_path_id(collection, self._body(request), item_id)
        options = self._write_options(collection, request)
        try:
            stored = self.proxy.put(entity_class=collection.entity_class, data=data, **options)
        except PreconditionFailed as exc:
            raise self._precondition(collection, exc) from None
        headers = self._entity_headers(collection, stored, {"Content-Type": _JSON})
        return 200, headers, _encode(stored)

    def _patch(
        self, collection: _Collection, item_id: Any, request: Request
    ) -> tuple[int, dict[str, str], str]:
        patch = self._with_path_id(collection, self._body(request, patch=True), item_id)
        entity_class = collection.entity_class
        options = self._write_options(collection, request)
        try:
            if is_flat(patch):
                # Only whole attributes are set: the proxy's patch does it in one request.
                stored = self.proxy.patch(entity_class=entity_class, data=patch, **options)
            else:
                stored = self._merge_and_put(collection, item_id, patch, options)
        except PreconditionFailed as exc:
            raise self._precondition(collection, exc) from None
        headers = self._entity_headers(collection, stored, {"Content-Type": _JSON})
        return 200, headers, _encode(stored)

    def _delete(
        self, collection: _Collection, item_id: Any, request: Request
    ) -> tuple[int, dict[str, str], str]:
        data = {collection.id_attribute: item_id}
        options = self._write_options(collection, request)
        try:
            self.proxy.delete(entity_class=collection.entity_class, data=data, **options)
        except PreconditionFailed as exc:
            raise self._precondition(collection, exc) from None
        return 204, {}, ""

    def _merge_and_put(
        self, collection: _Collection, item_id: Any, patch: Item, options: dict[str, Any]
    ) -> Item:
        """A merge patch that removes attributes (null) or merges into objects needs the
        stored item: read it, apply the patch, write the result as a replacement. For a
        versioned entity the write is conditional on the version read (or the one If-Match
        names), so a change made in between is never overwritten: it is a 412. Unversioned,
        the last writer wins, as with PUT."""
        entity_class = collection.entity_class
        key = {collection.id_attribute: item_id}
        current = self.proxy.get(entity_class=entity_class, data=key)
        if current is None:
            raise HttpError(404, f"no {collection.name} with id {item_id!r}")
        if collection.version_attribute is not None and "if_match" not in options:
            options = {"if_match": current[collection.version_attribute]}
        merged = merge_patch(entity_class.own_attributes(current), patch)
        return self.proxy.put(entity_class=entity_class, data=merged, **options)

    # -- versions: ETag and If-Match -------------------------------------------------------------

    @staticmethod
    def _write_options(collection: _Collection, request: Request) -> dict[str, Any]:
        """``if_match`` for the ``put``/``patch``/``delete`` call, from ``If-Match``: one ETag
        this API gave (``"3"``; a weak ``W/"3"`` too), or ``*`` (any stored version: what
        these verbs require anyway). An entity without versions has no ETag to match."""
        given = request.headers.get("if-match")
        if given is None or given.strip() == "*":
            return {}
        text = given.strip()
        if text.startswith("W/"):
            text = text[2:]
        version = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else ""
        if not version.isdigit() or not version.isascii():
            raise HttpError(400, f"If-Match must be one ETag this API gave, not {given!r}")
        if collection.version_attribute is None:
            raise HttpError(412, f"{collection.name} items have no versions: no ETag matches")
        return {"if_match": int(version)}

    @staticmethod
    def _entity_headers(
        collection: _Collection, data: Item, headers: dict[str, str]
    ) -> dict[str, str]:
        """The headers of a response that carries one entity: its ``ETag`` (the version) when
        the entity type is versioned."""
        etag = collection.etag(data)
        if etag is not None:
            headers["ETag"] = etag
        return headers

    @staticmethod
    def _precondition(collection: _Collection, exc: PreconditionFailed) -> HttpError:
        """A 412 that carries the stored entity and its ETag, so the client can merge and
        retry without another request."""
        current = exc.current
        headers = {}
        if current is not None:
            etag = collection.etag(current)
            if etag is not None:
                headers["ETag"] = etag
        return HttpError(412, str(exc), headers=headers, current=current)

    @staticmethod
    def _problem(request: Optional[Request], exc: Exception, context: Any) -> dict[str, Any]:
        if request is not None:
            request_id = request.request_id
        else:  # an event of no known shape: the invocation's id, or a new one
            request_id = str(getattr(context, "aws_request_id", None) or uuid.uuid4().hex)
        problem = problem_for(exc, request_id=request_id)
        headers = {"Content-Type": _PROBLEM, **problem.headers, "X-Request-Id": request_id}
        problem.body["request_id"] = request_id
        return response_for(request, problem.status, headers, _encode(problem.body))
