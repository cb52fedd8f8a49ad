"""JSON Schema handling for entities: checks, dynamore's extensions, compiled validators.

Validators are compiled with fastjsonschema once per Entity class (at class creation, so an
invalid schema fails at import, where it is cheapest to notice) and then cost a plain function
call per validation.
"""

from __future__ import annotations

import copy
import difflib
import re
import uuid
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Callable, Optional

from dynamore.exceptions import SchemaError, SchemaWarning, ValidationError

__all__ = [
    "JSON_TYPES",
    "KNOWN_KEYWORDS",
    "Validator",
    "check_id_attribute",
    "check_types",
    "compile_validator",
    "has_cross_attribute_rules",
    "id_types",
    "patch_schema",
    "warn_unknown_keywords",
]

Validator = Callable[[Any], Any]

KNOWN_KEYWORDS = frozenset(
    {
        # core and metadata
        "$schema",
        "$id",
        "id",
        "$ref",
        "$defs",
        "$comment",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$vocabulary",
        "definitions",
        "title",
        "description",
        "default",
        "examples",
        "readOnly",
        "writeOnly",
        "deprecated",
        # any instance
        "type",
        "enum",
        "const",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "format",
        "contentMediaType",
        "contentEncoding",
        "contentSchema",
        # numbers
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        # strings
        "maxLength",
        "minLength",
        "pattern",
        # arrays
        "items",
        "additionalItems",
        "prefixItems",
        "maxItems",
        "minItems",
        "uniqueItems",
        "contains",
        "maxContains",
        "minContains",
        "unevaluatedItems",
        # objects
        "maxProperties",
        "minProperties",
        "required",
        "properties",
        "patternProperties",
        "additionalProperties",
        "dependencies",
        "dependentRequired",
        "dependentSchemas",
        "propertyNames",
        "unevaluatedProperties",
    }
)

# Keywords people write by mistake, with what they meant; difflib covers the rest.
_LIKELY = {
    "min": "minimum",
    "max": "maximum",
    "minValue": "minimum",
    "maxValue": "maximum",
    "minLen": "minLength",
    "maxLen": "maxLength",
    "regex": "pattern",
    "enums": "enum",
    "require": "required",
    "optional": "required",
}

# Top-level keywords that relate attributes to each other: with any of them, validating
# each patched attribute alone is not equivalent to validating the merged item.
_CROSS_ATTRIBUTE = frozenset(
    {
        "dependencies",
        "dependentRequired",
        "dependentSchemas",
        "if",
        "then",
        "else",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "minProperties",
        "maxProperties",
        "unevaluatedProperties",
        "$ref",
        "$dynamicRef",
    }
)

_UUID4 = "uuid4"

#: The types JSON Schema knows (dynamore also accepts 0.1's ``"uuid4"``).
JSON_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})

# The Python values each JSON Schema type accepts (as fastjsonschema checks them; bool is
# not an integer or a number there).
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    _UUID4: (str,),
    "integer": (int,),
    "number": (int, float, Decimal),
    "boolean": (bool,),
    "null": (type(None),),
    "array": (list, tuple),
    "object": (dict,),
}


def _subschemas(schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key in ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas"):
        value = schema.get(key)
        if isinstance(value, dict):
            for name, sub in value.items():
                yield f"{key}.{name}", sub
    for key in ("items", "prefixItems", "allOf", "anyOf", "oneOf"):
        value = schema.get(key)
        if isinstance(value, list):
            for i, sub in enumerate(value):
                yield f"{key}[{i}]", sub
        elif key == "items" and isinstance(value, dict):
            yield key, value
    for key in (
        "additionalProperties",
        "additionalItems",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedProperties",
        "unevaluatedItems",
    ):
        value = schema.get(key)
        if isinstance(value, dict):
            yield key, value
    dependencies = schema.get("dependencies")
    if isinstance(dependencies, dict):
        for name, sub in dependencies.items():
            if isinstance(sub, dict):
                yield f"dependencies.{name}", sub


def _schema_nodes(schema: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(schema, dict):
        return
    yield where, schema
    for step, sub in _subschemas(schema):
        yield from _schema_nodes(sub, f"{where}.{step}" if where else step)


def warn_unknown_keywords(schema: dict[str, Any], owner: str, *, stacklevel: int = 3) -> None:
    """Warn (SchemaWarning) about each keyword JSON Schema ignores, naming the likely one."""
    for where, node in _schema_nodes(schema):
        for key in node:
            if key in KNOWN_KEYWORDS:
                continue
            likely = _LIKELY.get(key) or next(
                iter(difflib.get_close_matches(key, KNOWN_KEYWORDS, n=1, cutoff=0.75)), None
            )
            hint = f"; did you mean {likely!r}?" if likely else ""
            place = f" at {where}" if where else ""
            warnings.warn(
                f"{owner}.SCHEMA{place}: {key!r} is not a JSON Schema keyword and is ignored{hint}",
                SchemaWarning,
                stacklevel=stacklevel,
            )


def check_types(schema: dict[str, Any], owner: str) -> None:
    """SchemaError naming the place and the value of a ``type`` JSON Schema does not know
    (fastjsonschema would only say "Unknown type")."""
    for where, node in _schema_nodes(schema):
        if "type" not in node:
            continue
        kind = node["type"]
        for value in kind if isinstance(kind, list) else [kind]:
            if not isinstance(value, str) or (value not in JSON_TYPES and value != _UUID4):
                place = f"{where}.type" if where else "type"
                raise SchemaError(
                    f"{owner}.SCHEMA.{place}",
                    f"{value!r} is not a JSON Schema type (one of {', '.join(sorted(JSON_TYPES))}"
                    f", or dynamore 0.1's {_UUID4!r})",
                )


def check_id_attribute(schema: dict[str, Any], id_attribute: str, owner: str) -> None:
    """SchemaError when the schema forbids the id attribute itself: no item could be stored."""
    if schema.get("additionalProperties", True) is not False:
        return
    named = schema.get("properties")
    if isinstance(named, dict) and id_attribute in named:
        return
    patterns = schema.get("patternProperties")
    if isinstance(patterns, dict) and any(re.search(p, id_attribute) for p in patterns):
        return
    raise SchemaError(
        f"{owner}.ID_ATTRIBUTE",
        f"{id_attribute!r} is not in SCHEMA's properties and additionalProperties is false, "
        "so no valid item could hold its id",
    )


def id_types(schema: dict[str, Any], id_attribute: str) -> Optional[tuple[tuple[type, ...], str]]:
    """The Python types the schema's ``type`` allows for the id attribute, and their JSON
    Schema names; None when its property says no ``type``. Checking an id alone against this
    costs an ``isinstance``, a validator call several times that."""
    properties = schema.get("properties")
    sub = properties.get(id_attribute) if isinstance(properties, dict) else None
    if not isinstance(sub, dict) or "type" not in sub:
        return None
    kind = sub["type"]
    names = kind if isinstance(kind, list) else [kind]
    types = tuple(dict.fromkeys(t for name in names for t in _PYTHON_TYPES[name]))
    return types, " or ".join(names)


def _rewrite_uuid4(schema: Any) -> Any:
    """dynamore 0.1 accepted ``"type": "uuid4"``: turn it into a string with format uuid4."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    kind = out.get("type")
    if kind == _UUID4:
        out["type"] = "string"
        out.setdefault("format", _UUID4)
    elif isinstance(kind, list) and _UUID4 in kind:
        others = [k for k in kind if k != _UUID4]
        if "string" not in others:
            out.setdefault("format", _UUID4)
            others.append("string")
        out["type"] = others
    for key, value in list(out.items()):
        if key in ("enum", "const", "default", "examples", "required"):
            continue
        if isinstance(value, dict):
            if key in (
                "properties",
                "patternProperties",
                "definitions",
                "$defs",
                "dependentSchemas",
                "dependencies",
            ):
                out[key] = {k: _rewrite_uuid4(v) for k, v in value.items()}
            else:
                out[key] = _rewrite_uuid4(value)
        elif isinstance(value, list) and key in ("items", "prefixItems", "allOf", "anyOf", "oneOf"):
            out[key] = [_rewrite_uuid4(v) for v in value]
    return out


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def _path_of(name: str) -> str:
    # fastjsonschema names the failing value "data.meta.when[2]"; callers want "meta.when[2]".
    if name.startswith("data."):
        return name[5:]
    return "" if name == "data" else re.sub(r"^data(?=\[)", "", name)


def compile_validator(schema: dict[str, Any], owner: str) -> Validator:
    """Compile ``schema`` (a JSON Schema dict) into a validator function.

    The function returns the data, unchanged, or raises
    :class:`~dynamore.exceptions.ValidationError` naming the attribute and the rule. An invalid
    schema raises :class:`~dynamore.exceptions.SchemaError` here.
    """
    import fastjsonschema

    try:
        # use_default=False: validation must never change the data (a schema's "default" is
        # an annotation; filling it in would let a patch overwrite stored values).
        compiled = fastjsonschema.compile(
            _rewrite_uuid4(copy.deepcopy(schema)), formats={_UUID4: _is_uuid}, use_default=False
        )
    except (
        fastjsonschema.JsonSchemaDefinitionException,
        re.error,
        TypeError,
        ValueError,
        KeyError,
        AttributeError,
    ) as exc:
        raise SchemaError(f"{owner}.SCHEMA", f"is not a valid JSON Schema: {exc}") from exc
    value_error = fastjsonschema.JsonSchemaValueException

    def validate(data: Any) -> Any:
        try:
            return compiled(data)
        except value_error as exc:
            name = exc.name or "data"
            detail = exc.message.replace(name, "", 1).strip() if exc.message else str(exc)
            rule = f"{detail} (JSON Schema {exc.rule!r})" if exc.rule else detail
            raise ValidationError(_path_of(name), rule) from None

    return validate


def has_cross_attribute_rules(schema: dict[str, Any]) -> bool:
    """True when the top level relates attributes to each other (``required`` interplay,
    ``dependencies``, ``if``/``oneOf`` ...): then a patch cannot be validated attribute by
    attribute and goes through read-merge-write."""
    return any(key in schema for key in _CROSS_ATTRIBUTE)


def patch_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema a partial update must satisfy when the schema has no cross-attribute rules:
    the same per-attribute rules, nothing required (the stored item already has those)."""
    return {k: v for k, v in schema.items() if k != "required"}


def without_required(schema: dict[str, Any], names: frozenset[str]) -> dict[str, Any]:
    """``schema`` with ``names`` taken out of its top-level ``required``: attributes the store
    sets (a version, timestamps) are never required of the caller's data."""
    required = schema.get("required")
    if not isinstance(required, list) or names.isdisjoint(required):
        return schema
    return {**schema, "required": [n for n in required if n not in names]}
