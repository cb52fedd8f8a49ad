"""What several test modules share: the repository root, the standard test entity, and readers
and fault rewrites that look at a table through botocore rather than the client under test.

Test modules import their shared helpers from here (HTTP ones from ``tests/http_kit.py``, table
set-up from ``tests/ddb_admin.py``, the fault proxy from ``tests/faultproxy.py``), never from
another test module.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from dynamore import Client, table_definition
from dynamore.entity import Entity
from tests import ddb_admin

__all__ = [
    "COLD_PATH_AVOIDS",
    "JEANNE",
    "PERSON_SCHEMA",
    "ROOT",
    "Person",
    "as_python",
    "avoided",
    "entity_table",
    "leave_unprocessed",
    "stored",
]

#: The repository's root folder (subprocesses run there, with it on PYTHONPATH).
ROOT = Path(__file__).resolve().parent.parent

#: Modules a Lambda's cold path (import, Client, first requests, credentials from the
#: environment) does without, each a cost in peak RSS and milliseconds of every cold start:
#: botocore's stack (~200 ms); dataclasses (it pulls in inspect, ast, dis and tokenize);
#: decimal, loaded at the first Decimal; hashlib.py and hmac.py (the signer calls OpenSSL
#: through _hashlib), zlib (crc32 comes from binascii); ssl.py and socket.py with its
#: selectors (TLS and TCP go through the C modules _ssl and _socket); weakref.py (WeakSet
#: comes from _weakrefset); and dynamore's own modules for queries, tables and loads.
COLD_PATH_AVOIDS = (
    "boto3",
    "botocore",
    "urllib3",
    "dataclasses",
    "inspect",
    "typing",
    "copy",
    "contextlib",
    "decimal",
    "hashlib",
    "hmac",
    "zlib",
    "ssl",
    "socket",
    "selectors",
    "weakref",
    "encodings.idna",
    "urllib.parse",
    "random",
    "pathlib",
    "datetime",
    "dynamore._query",
    "dynamore._where",
    "dynamore._tables",
    "dynamore.loader",
)


def avoided(modules: Iterable[str]) -> list[str]:
    """The names in ``modules`` that the cold path avoids: one of :data:`COLD_PATH_AVOIDS`, or a
    submodule of one."""
    packages = tuple(name + "." for name in COLD_PATH_AVOIDS)
    return sorted(m for m in modules if m in COLD_PATH_AVOIDS or m.startswith(packages))


PERSON_SCHEMA: dict[str, Any] = {
    "title": "PERSON",
    "type": "object",
    "required": ["name", "age", "gender", "id_number"],
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0, "maximum": 123},
        "gender": {"type": "string", "enum": ["male", "female"]},
        "id_number": {"type": "string"},
    },
    "additionalProperties": False,
}


class Person(Entity):
    """The README's entity: PERSON items keyed by ``id_number``."""

    SCHEMA = PERSON_SCHEMA
    ID_ATTRIBUTE = "id_number"


JEANNE = {"name": "Jeanne", "age": 123, "gender": "female", "id_number": "123456"}


def stored(endpoint: str, table: str) -> dict[str, dict[str, Any]]:
    """Every item of the table by SK, read with botocore (not the client under test)."""
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    out = {}
    paginator = ddb_admin.botocore_client(endpoint).get_paginator("scan")
    for page in paginator.paginate(TableName=table, ConsistentRead=True):
        for raw in page["Items"]:
            item = {k: des.deserialize(v) for k, v in raw.items()}
            out[item["SK"]] = item
    return out


def as_python(value: Any) -> Any:
    """botocore's Decimals back to the ints and floats the client wrote."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: as_python(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_python(v) for v in value]
    return value


Rewrite = Callable[[dict[str, Any], dict[str, Any]], tuple[int, dict[str, Any]]]


def leave_unprocessed(endpoint: str, table: str, sks: set[str], *, once: bool = False) -> Rewrite:
    """A proxy rewrite that reports the puts of ``sks`` as unprocessed (each only the first
    time it is seen, with ``once``), and makes that true by deleting them again: the proxy
    forwards the whole request before it rewrites the answer."""
    seen: set[str] = set()

    def rewrite(request: dict[str, Any], response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        left = []
        for r in request["RequestItems"][table]:
            sk = r["PutRequest"]["Item"]["SK"]["S"]
            if sk in sks and not (once and sk in seen):
                left.append(r)
                seen.add(sk)
        if left:
            ddb_admin.botocore_client(endpoint).batch_write_item(
                RequestItems={
                    table: [
                        {
                            "DeleteRequest": {
                                "Key": {k: r["PutRequest"]["Item"][k] for k in ("PK", "SK")}
                            }
                        }
                        for r in left
                    ]
                }
            )
            response["UnprocessedItems"] = {table: left}
        return 200, response

    return rewrite


@contextlib.contextmanager
def entity_table(
    endpoint: str,
    entities: list[type[Entity]],
    items: Iterable[Entity] = (),
    on_request: Any = None,
) -> Iterator[tuple[Client, str]]:
    """A new table made by ``table_definition(name, entities)`` holding ``items`` (batch
    written), and a Client for it (calling ``on_request``, if given); deleted afterwards."""
    name = f"e-{uuid.uuid4().hex[:12]}"
    with Client(
        endpoint_url=endpoint,
        region="us-east-1",
        credentials=("testing", "testing"),
        on_request=on_request,
    ) as client:
        client.call("CreateTable", table_definition(name, entities))
        try:
            client.wait_for_table(name)
            client.batch_write(name, (item.data_with_identity() for item in items))
            yield client, name
        finally:
            ddb_admin.delete_table(endpoint, name)
