"""The OpenAPI 3.1 document of a :class:`~dynamore.rest.RestApi`, from the entity schemas.

Entity schemas are draft-07 (dynamore's dialect); OpenAPI 3.1 speaks JSON Schema 2020-12, so
each is translated: ``definitions`` -> ``$defs`` (with its ``$ref`` pointers moved under the
component), ``dependencies`` -> ``dependentRequired``/``dependentSchemas``, array-form
``items``/``additionalItems`` -> ``prefixItems``/``items``, and dynamore 0.1's ``"type":
"uuid4"`` -> a string with format ``uuid``. Every route, parameter and status the handler
answers is in it, with the RFC 9457 problem schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dynamore._version import __version__
from dynamore.rest._params import DEFAULT_LIMIT, value_types
from dynamore.rest._problems import TITLES

if TYPE_CHECKING:
    from dynamore.rest._api import _Collection

__all__ = ["openapi_document", "to_openapi_schema"]

_JSON = "application/json"
_PROBLEM = "application/problem+json"
# Keywords whose value is one subschema, a list of them, or a dict of them.
_ONE = ("additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_MANY = ("allOf", "anyOf", "oneOf")
_BY_NAME = ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas")
_COMPONENT = re.compile(r"[^A-Za-z0-9._-]")


def to_openapi_schema(schema: Any, base: str) -> Any:
    """``schema`` (draft-07) as JSON Schema 2020-12, its local ``$ref`` pointers resolved
    against ``base`` (where the schema sits in the document, e.g.
    ``#/components/schemas/person``)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$schema":
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith("#"):
            out[key] = base + value[1:].replace("/definitions/", "/$defs/", 1)
        elif key in _ONE:
            out[key] = to_openapi_schema(value, base)
        elif key in _MANY and isinstance(value, list):
            out[key] = [to_openapi_schema(v, base) for v in value]
        elif key in _BY_NAME and isinstance(value, dict):
            name = "$defs" if key == "definitions" else key
            out[name] = {k: to_openapi_schema(v, base) for k, v in value.items()}
        elif key == "items":
            if isinstance(value, list):
                out["prefixItems"] = [to_openapi_schema(v, base) for v in value]
            else:
                out["items"] = to_openapi_schema(value, base)
        elif key == "additionalItems":
            if isinstance(schema.get("items"), list):
                out["items"] = to_openapi_schema(value, base)
        elif key == "dependencies" and isinstance(value, dict):
            for name, rule in value.items():
                if isinstance(rule, list):
                    out.setdefault("dependentRequired", {})[name] = rule
                else:
                    out.setdefault("dependentSchemas", {})[name] = to_openapi_schema(rule, base)
        elif key == "type":
            _set_type(out, value)
        else:
            out[key] = value
    return out


def _set_type(out: dict[str, Any], value: Any) -> None:
    if value == "uuid4":
        out["type"] = "string"
        out["format"] = "uuid"
    elif isinstance(value, list) and "uuid4" in value:
        kinds = [k for k in value if k != "uuid4"]
        if "string" not in kinds:
            kinds.append("string")
            out["format"] = "uuid"
        out["type"] = kinds
    else:
        out["type"] = value


def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail", "request_id"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "request_id": {"type": "string"},
            "current": {
                "type": "object",
                "description": "the stored entity an If-Match did not match (412)",
            },
            "errors": {
                "type": "array",
                "description": "what failed validation (422)",
                "items": {
                    "type": "object",
                    "required": ["path", "message"],
                    "properties": {
                        "path": {"type": "string", "description": "JSON Pointer"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    }


def _headers() -> dict[str, Any]:
    text = {"type": "string"}
    seconds = {"type": "string", "pattern": "^[0-9]+$"}
    return {
        "RequestId": {"description": "the request's id", "schema": text},
        "Location": {"description": "the created entity's URL", "schema": text},
        "RetryAfter": {"description": "seconds to wait before retrying", "schema": seconds},
        "Allow": {"description": "the methods the resource takes", "schema": text},
        "ETag": {
            "description": "the entity's version, quoted: send it back in If-Match",
            "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
        },
    }


def _problem_responses() -> dict[str, Any]:
    out = {}
    for status, title in TITLES.items():
        headers: dict[str, Any] = {"X-Request-Id": _ref("RequestId", "headers")}
        if status in (429, 503):
            headers["Retry-After"] = _ref("RetryAfter", "headers")
        if status == 405:
            headers["Allow"] = _ref("Allow", "headers")
        if status == 412:
            headers["ETag"] = _ref("ETag", "headers")  # the stored version, when there is one
        out[f"Problem{status}"] = {
            "description": title,
            "headers": headers,
            "content": {_PROBLEM: {"schema": _ref("Problem")}},
        }
    return out


def _ok(description: str, schema: dict[str, Any], **headers: Any) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-Id": _ref("RequestId", "headers"), **headers},
        "content": {_JSON: {"schema": schema}},
    }


def _statuses(*codes: int) -> dict[str, Any]:
    return {str(code): _ref(f"Problem{code}", "responses") for code in (*codes, 429, 500, 503)}


def _base(schema: Any) -> dict[str, Any]:
    """The type of a query value for the attribute ``schema`` describes, without its other
    rules: a filter may name any value of the type."""
    kinds = value_types(schema)
    out: dict[str, Any] = {"type": kinds[0] if len(kinds) == 1 else kinds}
    if "string" in kinds and isinstance(schema, Mapping) and schema.get("type") == "uuid4":
        out["format"] = "uuid"
    return out


def _filter_parameters(properties: Mapping[str, Any]) -> list[dict[str, Any]]:
    parameters = []

    def add(name: str, schema: dict[str, Any], description: str) -> None:
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": schema,
                "description": description,
            }
        )

    for name, schema in properties.items():
        kinds = value_types(schema)
        scalars = [k for k in kinds if k not in ("array", "object")]
        if scalars and len(scalars) == len(kinds):
            base = _base(schema)
            add(name, base, f"{name} equals")
            add(f"{name}[eq]", base, f"{name} equals")
            add(f"{name}[ne]", base, f"{name} differs")
            ordered = {"string", "number", "integer"} & set(kinds)
            if ordered and not {"boolean", "null"} & set(kinds):
                for op, word in (("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")):
                    add(f"{name}[{op}]", base, f"{name} {word}")
        if kinds == ["string"]:
            add(f"{name}[begins_with]", {"type": "string"}, f"{name} starts with")
            add(f"{name}[contains]", {"type": "string"}, f"{name} holds the substring")
        elif kinds == ["array"] and isinstance(schema.get("items"), Mapping):
            items = schema["items"]
            if value_types(items) and not {"array", "object"} & set(value_types(items)):
                add(f"{name}[contains]", _base(items), f"{name} holds the element")
    return parameters


def _list_parameters(collection: _Collection) -> list[dict[str, Any]]:
    entity = collection.entity_class
    parameters: list[dict[str, Any]] = [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": f"page size (default {DEFAULT_LIMIT})",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
        {
            "name": "cursor",
            "in": "query",
            "required": False,
            "description": "the cursor of the previous page",
            "schema": {"type": "string"},
        },
    ]
    indexes = sorted(entity.index_specs())
    if indexes:
        parameters.append(
            {
                "name": "index",
                "in": "query",
                "required": False,
                "description": "list by this index (equality on its partition attributes needed)",
                "schema": {"type": "string", "enum": indexes},
            }
        )
    return parameters + _filter_parameters(entity.SCHEMA.get("properties", {}))


def _patch_schema(name: str, schema: Mapping[str, Any], base: str) -> dict[str, Any]:
    properties = {
        key: {"anyOf": [to_openapi_schema(sub, base), {"type": "null"}]}
        for key, sub in schema.get("properties", {}).items()
    }
    out: dict[str, Any] = {
        "type": "object",
        "description": f"a JSON Merge Patch (RFC 7396) of a {name}: null removes an attribute",
        "properties": properties,
    }
    if "additionalProperties" in schema:
        out["additionalProperties"] = to_openapi_schema(schema["additionalProperties"], base)
    return out


def _paths_for(collection: _Collection, component: str) -> dict[str, Any]:
    name = collection.name
    entity = collection.entity_class
    schema = entity.SCHEMA
    id_schema = schema.get("properties", {}).get(collection.id_attribute, {})
    body = {"required": True, "content": {_JSON: {"schema": _ref(component)}}}
    patch_body = {
        "required": True,
        "content": {
            "application/merge-patch+json": {"schema": _ref(f"{component}Patch")},
            _JSON: {"schema": _ref(f"{component}Patch")},
        },
    }
    versioned = collection.version_attribute is not None
    etag = {"ETag": _ref("ETag", "headers")} if versioned else {}
    entity_ok = _ok(f"the {name}", _ref(component), **etag)
    # A write conditional on the version a client holds (versioned types only).
    if_match = (
        [
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "write only if the stored version has this ETag (else 412)",
                "schema": {"type": "string"},
            }
        ]
        if versioned
        else []
    )
    return {
        f"/{name}": {
            "get": {
                "operationId": f"list_{component}",
                "summary": f"a page of {name} items",
                "parameters": _list_parameters(collection),
                "responses": {"200": _ok("a page", _ref(f"{component}Page")), **_statuses(400)},
            },
            "post": {
                "operationId": f"create_{component}",
                "summary": f"create a {name}",
                "requestBody": body,
                "responses": {
                    "201": _ok(
                        f"the stored {name}",
                        _ref(component),
                        Location=_ref("Location", "headers"),
                        **etag,
                    ),
                    **_statuses(400, 409, 412, 413, 415, 422),
                },
            },
        },
        f"/{name}/{{id}}": {
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "description": f"the {name}'s {collection.id_attribute}",
                    "schema": to_openapi_schema(id_schema, f"#/components/schemas/{component}"),
                }
            ],
            "get": {
                "operationId": f"get_{component}",
                "summary": f"one {name}",
                "responses": {"200": entity_ok, **_statuses(404)},
            },
            "put": {
                "operationId": f"replace_{component}",
                "summary": f"replace a {name}",
                "parameters": if_match,
                "requestBody": body,
                "responses": {"200": entity_ok, **_statuses(400, 404, 409, 412, 413, 415, 422)},
            },
            "patch": {
                "operationId": f"patch_{component}",
                "summary": f"change some attributes of a {name} (JSON Merge Patch)",
                "parameters": if_match,
                "requestBody": patch_body,
                "responses": {"200": entity_ok, **_statuses(400, 404, 409, 412, 413, 415, 422)},
            },
            "delete": {
                "operationId": f"delete_{component}",
                "summary": f"delete a {name}",
                "parameters": if_match,
                "responses": {
                    "204": {
                        "description": "deleted",
                        "headers": {"X-Request-Id": _ref("RequestId", "headers")},
                    },
                    **_statuses(404, 409, 412),
                },
            },
        },
    }


def openapi_document(collections: Mapping[str, _Collection]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of an API serving ``collections`` (name -> collection)."""
    schemas: dict[str, Any] = {"Problem": _problem_schema()}
    paths: dict[str, Any] = {
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "this document",
                "responses": {"200": _ok("the OpenAPI document", {"type": "object"})},
            }
        }
    }
    for name, collection in collections.items():
        component = _COMPONENT.sub("_", name)
        base = f"#/components/schemas/{component}"
        schema = collection.entity_class.SCHEMA
        schemas[component] = to_openapi_schema(schema, base)
        schemas[f"{component}Patch"] = _patch_schema(name, schema, base)
        schemas[f"{component}Page"] = {
            "type": "object",
            "required": ["items", "cursor"],
            "properties": {
                "items": {"type": "array", "items": _ref(component)},
                "cursor": {"type": ["string", "null"]},
            },
        }
        paths.update(_paths_for(collection, component))
    return {
        "openapi": "3.1.0",
        "info": {"title": "dynamore REST API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": _problem_responses(),
            "headers": _headers(),
        },
    }
