"""A REST API over entity types, for AWS Lambda: one handler for API Gateway (REST and HTTP
APIs), Lambda Function URLs and ALB, with an OpenAPI 3.1 document generated from the schemas.

>>> from dynamore.rest import RestApi                                   # doctest: +SKIP
>>> api = RestApi(table_name="MyTable", entities=[Person, Doc])         # doctest: +SKIP
>>> handler = api.handler          # the Lambda entry point             # doctest: +SKIP

Routes, per entity type (``/person`` for a schema titled ``PERSON``): ``GET /person`` (a page,
filtered by the query string), ``POST /person``, ``GET|PUT|PATCH|DELETE /person/{id}``, and
``GET /openapi.json``. See README.rst, "REST API on Lambda".
"""

from __future__ import annotations

from dynamore.rest._api import DEFAULT_MAX_BODY, OPENAPI_PATH, RestApi

__all__ = ["DEFAULT_MAX_BODY", "OPENAPI_PATH", "RestApi"]
