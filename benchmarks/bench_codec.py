"""The AttributeValue codec: dynamore's encode_item/decode_item against what boto3 pays.

Three item shapes: ``flat`` (10 scalar attributes), ``nested`` (maps in lists in maps, a string
set, a small binary) and ``list100`` (a 100-element list of small maps).

The peer, ``boto3``, is what a boto3 user's item goes through, minus the JSON text step that both
sides share (``json.dumps`` / ``json.loads`` of the body is left out of these rows):

- encode: ``TypeSerializer.serialize`` per attribute (as the ``Table`` resource does), then
  botocore's JSON serializer walking the ``PutItem`` ``Item`` shape, which base64-encodes ``B``;
- decode: botocore's JSON parser walking the ``GetItem`` ``Item`` shape over the loaded body
  (base64-decoding ``B``), then ``TypeDeserializer.deserialize`` per attribute.

The ``json`` rows take the item all the way to the request's JSON text: dynamore's
``encode_item_json`` (one walk, what the bulk loader sends) against boto3's encode above plus
the ``json.dumps`` botocore runs on the body; ``dynamore dict + dumps`` is the two-step way
(``encode_item``, then the client's encoder) for reference.

The resource layer's own model walk (``TransformationInjector``) is left out, which favours boto3.
The ``boto3 types only`` rows show TypeSerializer/TypeDeserializer alone, for reference. boto3
refuses floats, so its input holds ``Decimal(repr(f))`` where dynamore's holds the float ``f``:
each side gets what its users write.

Target (issue 3): encode >= 8x and decode >= 4x cheaper than ``boto3`` on flat and nested.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import partial
from typing import Any

from benchmarks.harness import Context, Result, Suite
from dynamore._protocol import dumps
from dynamore.codec import decode_item, encode_item, encode_item_json


def shapes() -> dict[str, dict[str, Any]]:
    """The three items, as dynamore's users write them."""
    flat = {
        "PK": "USER#00012345",
        "SK": "PROFILE",
        "name": "Jeanne d'Arc",
        "email": "jeanne.darc@example.com",
        "age": 31,
        "score": 98.25,
        "active": True,
        "visits": 1234567,
        "country": "FR",
        "nickname": None,
    }
    nested = {
        "PK": "ORDER#998877",
        "SK": "2024-05-01T12:30:00Z",
        "customer": {
            "name": "Jeanne",
            "address": {"street": "1 Rue de Rivoli", "city": "Paris", "zip": "75001"},
            "tags": {"vip", "early-adopter"},
        },
        "lines": [
            {"sku": "A-100", "qty": 2, "price": 19.99, "gift": False},
            {"sku": "B-200", "qty": 1, "price": 5.5, "gift": True, "note": "wrap it"},
            {"sku": "C-300", "qty": 10, "price": 0.75, "gift": False},
        ],
        "totals": {"net": 53.0, "tax": 10.6, "currency": "EUR"},
        "history": [["created", 1714566600], ["paid", 1714566700]],
        "sig": b"\x00\x01\x02\x03signature\xff",
    }
    list100 = {
        "PK": "BATCH#1",
        "SK": "ROWS",
        "rows": [{"i": i, "name": f"row {i}", "ok": i % 3 == 0} for i in range(100)],
    }
    return {"flat": flat, "nested": nested, "list100": list100}


def _for_boto3(v: Any) -> Any:
    """The same value as a boto3 user writes it: Decimal instead of float."""
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, dict):
        return {k: _for_boto3(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_for_boto3(x) for x in v]
    return v


def _two_step(item: dict[str, Any]) -> str:
    return dumps(encode_item(item))


class Boto3Codec:
    """boto3's encode and decode of an item, with botocore's shape walks (see module doc)."""

    def __init__(self) -> None:
        import botocore.parsers
        import botocore.serialize
        import botocore.session
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        model = botocore.session.get_session().get_service_model("dynamodb")
        self.put_item_shape = model.operation_model("PutItem").input_shape.members["Item"]
        self.get_item_shape = model.operation_model("GetItem").output_shape.members["Item"]
        self.serializer = botocore.serialize.create_serializer("json", include_validation=False)
        self.parser = botocore.parsers.create_parser("json")
        self.serialize = TypeSerializer().serialize
        self.deserialize = TypeDeserializer().deserialize

    def types_encode(self, item: dict[str, Any]) -> dict[str, Any]:
        serialize = self.serialize
        return {k: serialize(v) for k, v in item.items()}

    def encode(self, item: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        self.serializer._serialize(body, self.types_encode(item), self.put_item_shape, "Item")
        return body["Item"]  # type: ignore[no-any-return]

    def encode_json(self, item: dict[str, Any]) -> str:
        return json.dumps(self.encode(item))  # botocore's JSON serializer dumps the body so

    def types_decode(self, parsed: dict[str, Any]) -> dict[str, Any]:
        deserialize = self.deserialize
        return {k: deserialize(v) for k, v in parsed.items()}

    def decode(self, wire: dict[str, Any]) -> dict[str, Any]:
        return self.types_decode(self.parser._parse_shape(self.get_item_shape, wire))


def run(ctx: Context) -> list[Result]:
    suite = Suite("codec", ctx)
    boto3 = Boto3Codec()
    ops = {"flat": ctx.n(20_000, 200), "nested": ctx.n(5_000, 100), "list100": ctx.n(1_000, 20)}
    for name, item in shapes().items():
        b_item = _for_boto3(item)
        wire = json.loads(json.dumps(encode_item(item)))  # what json.loads gives a reader
        parsed = boto3.parser._parse_shape(boto3.get_item_shape, wire)  # B as bytes again
        n = ops[name]
        # functools.partial: no Python-level wrapper call in any row
        suite.add(f"encode {name}", "dynamore", partial(encode_item, item), ops=n)
        suite.add(f"encode {name}", "boto3", partial(boto3.encode, b_item), ops=n)
        suite.add(f"encode {name}", "boto3 types only", partial(boto3.types_encode, b_item), ops=n)
        suite.add(f"json {name}", "dynamore", partial(encode_item_json, item), ops=n)
        suite.add(f"json {name}", "boto3", partial(boto3.encode_json, b_item), ops=n)
        suite.add(f"json {name}", "dynamore dict + dumps", partial(_two_step, item), ops=n)
        suite.add(f"decode {name}", "dynamore", partial(decode_item, wire), ops=n)
        suite.add(f"decode {name}", "boto3", partial(boto3.decode, wire), ops=n)
        suite.add(f"decode {name}", "boto3 types only", partial(boto3.types_decode, parsed), ops=n)
    return suite.run()
