"""``python -m dynamore.demo``: the README quick start, run as written (``make demo``).

Needs a DynamoDB to talk to: ``make demo`` starts DynamoDB Local and sets ``DDB_ENDPOINT``.
The demo creates the table the quick start assumes, then runs the quick start's own lines and
shows what they did, including the raw stored item and the error an invalid post gets.
"""

from __future__ import annotations

import os
import sys
import warnings
from pprint import pformat
from typing import Any

TABLE = "MyTable"


def _show(label: str, value: object) -> None:
    print(f"{label}:\n    " + pformat(value, sort_dicts=False).replace("\n", "\n    "))


def main() -> int:
    endpoint = os.environ.get("DDB_ENDPOINT")
    if not endpoint:
        print("error: set DDB_ENDPOINT to a DynamoDB (Local), or run `make demo`", file=sys.stderr)
        return 2
    # DynamoDB Local accepts any credentials; a real endpoint uses the caller's own.
    if "127.0.0.1" in endpoint or "localhost" in endpoint:
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "demo"),
            ("AWS_SECRET_ACCESS_KEY", "demo"),
            ("AWS_REGION", "us-east-1"),
        ):
            os.environ.setdefault(name, value)
    warnings.simplefilter("always")

    from dynamore import Client
    from dynamore.exceptions import ResourceNotFound, ValidationError

    admin = Client()
    try:
        admin.describe_table(TABLE)
    except ResourceNotFound:
        admin.create_table(TABLE)
        print(f"created table {TABLE!r} at {endpoint} (PK: string hash key, SK: string range key)")
    else:  # a server kept from an earlier run: start from a clean slate for the demo's item
        for sort_key in ("123456", "777777"):
            admin.delete_item(TABLE, {"PK": "PERSON", "SK": sort_key})
        print(f"using the existing table {TABLE!r} at {endpoint}")

    # ---- the README quick start, verbatim ----
    from dynamore.dynamodb_proxy import DynamoDbProxy
    from dynamore.entity import Entity

    class Person(Entity):
        SCHEMA = {
            "title": "PERSON",
            "type": "object",
            "required": ["name", "age", "gender", "id_number"],
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer", "min": 0, "max": 123},
                "gender": {"type": "string", "enum": ["male", "female"]},
                "id_number": {"type": "string"},
            },
            "additionalProperties": False,
        }
        ID_ATTRIBUTE = "id_number"

    db = DynamoDbProxy(table_name="MyTable")
    data = {"name": "Jeanne", "age": 123, "gender": "female", "id_number": "123456"}
    db.post(entity_class=Person, data=data)
    item = db.get(entity_class=Person, data={"id_number": data["id_number"]})  # one item
    items = db.get(entity_class=Person)  # all PERSON items
    # ---- end of the quick start ----

    print(f"db.post created PERSON {data['id_number']} in {TABLE!r}")
    _show("db.get (one item) returned", item)
    _show("db.get (all PERSON items) returned", items)
    stored = admin.get_item(TABLE, {"PK": "PERSON", "SK": "123456"}) or {}
    _show("stored in DynamoDB as", {"PK": stored.pop("PK"), "SK": stored.pop("SK"), **stored})
    try:
        db.post(entity_class=Person, data={**data, "id_number": "654321", "gender": "other"})
    except ValidationError as exc:
        print(f"an invalid post raises {type(exc).__name__} (a ValueError), nothing is written:")
        print(f"    {exc}")
    _rest_round_trip(Person)
    db.client.close()
    admin.close()
    return 0


def _rest_round_trip(entity_class: Any) -> None:
    """The same entity type as a REST API: the server ``dynamore serve`` runs (in this
    process, on a free loopback port), and one curl-style round trip through it."""
    import json
    import threading
    from urllib.request import Request, urlopen

    from dynamore.rest import RestApi
    from dynamore.rest._serve import RestServer

    server = RestServer(RestApi(table_name=TABLE, entities=[entity_class]), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"dynamore serve --table {TABLE} --entity ...:Person is listening; URL={server.url}")
    body = {"name": "Louis", "age": 42, "gender": "male", "id_number": "777777"}
    for method, path, data in (
        ("POST", "/person", body),
        ("GET", "/person/777777", None),
        ("DELETE", "/person/777777", None),
    ):
        sent = json.dumps(data) if data else None
        shown = f" -H 'Content-Type: application/json' -d '{sent}'" if sent else ""
        print(f"$ curl -i -X {method} $URL{path}{shown}")
        request = Request(server.url + path, data=sent.encode() if sent else None, method=method)
        if sent:
            request.add_header("Content-Type", "application/json")
        with urlopen(request, timeout=30) as response:
            location = response.headers.get("Location")
            print(f"    HTTP {response.status}" + (f", Location: {location}" if location else ""))
            text = response.read().decode()
            if text:
                print(f"    {text}")
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    sys.exit(main())
