"""dynamore.rest._openapi: the OpenAPI 3.1 document validates, and says what the handler does."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from dynamore.entity import Entity
from dynamore.rest import RestApi
from dynamore.rest._openapi import to_openapi_schema
from dynamore.rest._problems import TITLES
from tests.rest_kit import Counter, Person


class Doc(Entity):
    SCHEMA = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "DOC",
        "type": "object",
        "required": ["id"],
        "definitions": {"word": {"type": "string", "minLength": 1}},
        "properties": {
            "id": {"type": "uuid4"},
            "owner": {"type": ["uuid4", "null"]},
            "title": {"$ref": "#/definitions/word"},
            "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
            "score": {"type": "number"},
            "draft": {"type": "boolean"},
        },
        "dependencies": {"score": ["title"], "draft": {"required": ["title"]}},
    }
    ID_ATTRIBUTE = "id"


def validator_for(doc: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    """A validator of component schema ``name``, its ``$ref`` pointers resolved in ``doc``."""
    root = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema.Draft202012Validator(root)


def document() -> dict[str, Any]:
    api = RestApi(table_name="T", entities=[Person, Counter, Doc], check_table=False)
    return api.openapi()


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_draft_07_becomes_2020_12() -> None:
    schema = document()["components"]["schemas"]["doc"]
    assert "$schema" not in schema and "definitions" not in schema
    assert schema["$defs"] == {"word": {"type": "string", "minLength": 1}}
    properties = schema["properties"]
    assert properties["id"] == {"type": "string", "format": "uuid"}
    assert properties["owner"] == {"type": ["null", "string"], "format": "uuid"}
    assert properties["title"] == {"$ref": "#/components/schemas/doc/$defs/word"}
    assert properties["pair"] == {
        "type": "array",
        "prefixItems": [{"type": "string"}, {"type": "integer"}],
    }
    assert schema["dependentRequired"] == {"score": ["title"]}
    assert schema["dependentSchemas"] == {"draft": {"required": ["title"]}}
    # The translated schema judges data as the original does.
    good = {"id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "title": "t", "score": 1}
    bad = {"id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "score": 1}
    validator = validator_for(document(), "doc")
    assert validator.is_valid(good) and not validator.is_valid(bad)


def test_to_openapi_schema_leaves_values_alone() -> None:
    schema = {"enum": [{"type": "uuid4"}], "default": {"$ref": "#/x"}, "const": "uuid4"}
    assert to_openapi_schema(schema, "#/b") == schema


def test_every_route_operation_and_status() -> None:
    doc = document()
    paths = doc["paths"]
    assert set(paths) == {
        "/openapi.json",
        "/person",
        "/person/{id}",
        "/counter",
        "/counter/{id}",
        "/doc",
        "/doc/{id}",
    }
    assert set(paths["/person"]) == {"get", "post"}
    assert set(paths["/person/{id}"]) == {"parameters", "get", "put", "patch", "delete"}

    def statuses(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    common = {"429", "500", "503"}
    assert statuses("/person", "get") == {"200", "400"} | common
    assert statuses("/person", "post") == {"201", "400", "409", "412", "413", "415", "422"} | common
    assert statuses("/person/{id}", "get") == {"200", "404"} | common
    writes = {"200", "400", "404", "409", "412", "413", "415", "422"} | common
    assert statuses("/person/{id}", "put") == writes
    assert statuses("/person/{id}", "patch") == writes
    assert statuses("/person/{id}", "delete") == {"204", "404", "409", "412"} | common
    responses = doc["components"]["responses"]
    assert set(responses) == {f"Problem{code}" for code in TITLES}
    assert set(responses["Problem429"]["headers"]) == {"X-Request-Id", "Retry-After"}
    assert set(responses["Problem405"]["headers"]) == {"X-Request-Id", "Allow"}
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])
    created = paths["/person"]["post"]["responses"]["201"]
    assert set(created["headers"]) == {"X-Request-Id", "Location"}
    patch = paths["/person/{id}"]["patch"]["requestBody"]["content"]
    assert set(patch) == {"application/merge-patch+json", "application/json"}
    assert paths["/counter/{id}"]["parameters"][0]["schema"] == {"type": "integer"}


def test_list_parameters_follow_the_schema() -> None:
    doc = document()
    parameters = {p["name"]: p for p in doc["paths"]["/person"]["get"]["parameters"]}
    assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    assert parameters["index"]["schema"] == {"type": "string", "enum": ["GSI1"]}
    assert parameters["age[ge]"]["schema"] == {"type": "integer"}
    assert parameters["name[begins_with]"]["schema"] == {"type": "string"}
    assert parameters["tags[contains]"]["schema"] == {"type": "string"}
    assert "tags" not in parameters and "address" not in parameters  # no equality on JSON
    assert "gender[lt]" in parameters
    doc_parameters = {p["name"] for p in doc["paths"]["/doc"]["get"]["parameters"]}
    assert "index" not in doc_parameters  # Doc has no index
    assert {"draft", "draft[ne]"} <= doc_parameters and "draft[lt]" not in doc_parameters
    assert "owner[begins_with]" not in doc_parameters  # may be null: not only a string


@pytest.mark.parametrize("name", ["person", "counter", "doc"])
def test_the_merge_patch_schema_takes_null_for_every_attribute(name: str) -> None:
    doc = document()
    patch = doc["components"]["schemas"][f"{name}Patch"]
    validator = validator_for(doc, f"{name}Patch")
    for attribute in patch["properties"]:
        assert validator.is_valid({attribute: None})
