"""The entity store's verbs: ``DynamoDbProxy`` post, get, put and patch against the seed's way
(boto3 resource + jsonschema) and PynamoDB, plus schema validation alone.

All three store the same ``PERSON`` entities (8 attributes, a list and a map among them) in the
same table, ``PK`` = ``PERSON`` and ``SK`` = the id, as the seed's README shows:

- ``dynamore``: ``DynamoDbProxy(table_name=..., client=Client(..., transport="native"))`` and
  an ``Entity`` subclass. Its ``patch`` is one conditional ``UpdateItem`` (this schema has no
  cross-attribute rules, so the patched attributes are validated on their own), and so is its
  ``put`` (``SET`` the entity's attributes, ``REMOVE`` its absent ones: attributes it does not
  own survive);
- ``boto3 + jsonschema`` (the seed's sequence): post = ``jsonschema.validate`` then
  ``put_item`` with ``attribute_not_exists(PK)``; put = the same with ``attribute_exists(PK)``
  (a whole-item replace); get = ``get_item``; patch = ``get_item``,
  merge, ``jsonschema.validate`` of the merged item, unconditional ``put_item`` (two requests,
  and a concurrent writer is silently overwritten: less work than dynamore's guarantee). boto3
  returns numbers as ``Decimal``, which jsonschema's ``integer`` rejects, so get and patch turn
  them back into ints, as dynamore's codec does;
- ``PynamoDB``: a ``Model`` with the same attributes; post = ``save`` with
  ``pk.does_not_exist()``; put = ``save`` with ``pk.exists()``; get = ``Model.get`` (the model
  object is returned as is); patch =
  ``update(actions=[...], condition=pk.exists())``. PynamoDB checks attribute types only, not
  the schema's enum, bounds or ``additionalProperties``, so it does less work than the others.

Posts use a fresh id each (a counter per implementation); get, put and patch hit one stable
item (put with a new age every time).

The ``validate`` case is schema validation alone on the same data: dynamore's compiled
fastjsonschema validator (the one ``Person(data)`` calls), ``jsonschema.validate`` (what the
seed calls: it checks the schema and builds a validator on every call) and a
``Draft7Validator`` built once (the best a jsonschema user can do).

The ``patch if_match`` case is lost-update protection: dynamore's ``patch`` with
``if_match=<the version it last returned>`` on an entity with ``VERSION_ATTRIBUTE`` (one
``UpdateItem``: the patched attributes, version + 1, condition on the version) against
PynamoDB's ``VersionAttribute``: ``save()`` of the model object held from the previous call,
two attributes changed (one ``PutItem`` of the whole item, conditioned on the version, which
PynamoDB then increments in the object).

Targets (issue 5): >= 5x less client CPU per verb than ``boto3 + jsonschema``; validation
>= 20x faster than jsonschema; (issue 12) ``patch if_match`` >= 5x less than PynamoDB's
versioned ``save``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, Optional

from benchmarks.bench_ops import REGION, bench_table
from benchmarks.harness import Context, Result, Suite
from dynamore import Client
from dynamore.dynamodb_proxy import DynamoDbProxy
from dynamore.entity import Entity

SCHEMA: dict[str, Any] = {
    "title": "PERSON",
    "type": "object",
    "required": ["id_number", "name", "age", "gender"],
    "properties": {
        "id_number": {"type": "string", "minLength": 1},
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "gender": {"type": "string", "enum": ["male", "female"]},
        "email": {"type": "string", "maxLength": 254},
        "active": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
        "address": {
            "type": "object",
            "required": ["street", "city", "zip"],
            "properties": {
                "street": {"type": "string"},
                "city": {"type": "string"},
                "zip": {"type": "string"},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
ID = "id_number"
TITLE = SCHEMA["title"]

PERSON: dict[str, Any] = {
    "id_number": "123456",
    "name": "Jeanne d'Arc",
    "age": 31,
    "gender": "female",
    "email": "jeanne.darc@example.com",
    "active": True,
    "tags": ["admin", "early-adopter", "fr"],
    "address": {"street": "1 Rue de Rivoli", "city": "Paris", "zip": "75001"},
}
PATCHED_ID = "stable-patch-target"


class Person(Entity):
    """The benchmark's entity type."""

    SCHEMA = SCHEMA
    ID_ATTRIBUTE = ID


VERSIONED_TITLE = "VPERSON"


class VersionedPerson(Entity):
    """Person with a version the store keeps (its own partition, beside Person's)."""

    SCHEMA = {**SCHEMA, "title": VERSIONED_TITLE}
    ID_ATTRIBUTE = ID
    VERSION_ATTRIBUTE = "version"


def compiled_validator(entity_class: type[Entity]) -> Callable[[Any], Any]:
    """The fastjsonschema validator the Entity compiled for its full schema (the one post and
    ``Entity(data)`` call)."""
    held = getattr(entity_class, "_validators", None)  # current layout: (full, patch)
    if held is not None:
        return held.full  # type: ignore[no-any-return]
    return entity_class._validate  # type: ignore[attr-defined,no-any-return]


def _plain(value: Any) -> Any:
    """boto3's Decimals back to int (or float), as dynamore's codec decodes numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class SeedWay:
    """The seed's entity store: boto3's Table resource and ``jsonschema.validate``."""

    def __init__(self, table: Any) -> None:
        import jsonschema

        self.table = table
        self.validate = jsonschema.validate
        self.conditional_failed = table.meta.client.exceptions.ConditionalCheckFailedException

    @staticmethod
    def key(data: dict[str, Any]) -> dict[str, str]:
        return {"PK": TITLE, "SK": data[ID]}

    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        self.validate(data, SCHEMA)
        try:
            self.table.put_item(
                Item={**data, **self.key(data)}, ConditionExpression="attribute_not_exists(PK)"
            )
        except self.conditional_failed:
            raise RuntimeError(f"{data[ID]} exists") from None
        return data

    def put(self, data: dict[str, Any]) -> dict[str, Any]:
        self.validate(data, SCHEMA)
        try:
            self.table.put_item(
                Item={**data, **self.key(data)}, ConditionExpression="attribute_exists(PK)"
            )
        except self.conditional_failed:
            raise RuntimeError(f"{data[ID]} not found") from None
        return data

    def get(self, data: dict[str, Any]) -> Optional[dict[str, Any]]:
        item = self.table.get_item(Key=self.key(data)).get("Item")
        if item is None:
            return None
        return {k: _plain(v) for k, v in item.items() if k not in ("PK", "SK")}

    def patch(self, data: dict[str, Any]) -> dict[str, Any]:
        current = self.get(data)
        if current is None:
            raise RuntimeError(f"{data[ID]} not found")
        merged = {**current, **data}
        self.validate(merged, SCHEMA)
        self.table.put_item(Item={**merged, **self.key(merged)})
        return merged


def pynamodb_person(table: str, endpoint: str) -> Any:
    """A PynamoDB Model class with Person's attributes in ``table``."""
    from pynamodb.attributes import (
        BooleanAttribute,
        ListAttribute,
        MapAttribute,
        NumberAttribute,
        UnicodeAttribute,
    )
    from pynamodb.models import Model

    class Address(MapAttribute):  # type: ignore[type-arg]
        street = UnicodeAttribute()
        city = UnicodeAttribute()
        zip = UnicodeAttribute()

    class PersonModel(Model):
        class Meta:
            table_name = table
            host = endpoint
            region = REGION

        pk = UnicodeAttribute(hash_key=True, attr_name="PK")
        sk = UnicodeAttribute(range_key=True, attr_name="SK")
        id_number = UnicodeAttribute()
        name = UnicodeAttribute()
        age = NumberAttribute()
        gender = UnicodeAttribute()
        email = UnicodeAttribute(null=True)
        active = BooleanAttribute(null=True)
        tags = ListAttribute(of=UnicodeAttribute, null=True)
        address = Address(null=True)  # type: ignore[no-untyped-call]

    return PersonModel


def pynamodb_versioned_person(table: str, endpoint: str) -> Any:
    """PynamoDB's model of VersionedPerson: Person's attributes and a ``VersionAttribute``."""
    from pynamodb.attributes import VersionAttribute

    base = pynamodb_person(table, endpoint)

    class VersionedModel(base):  # type: ignore[misc,valid-type]
        version = VersionAttribute()

    return VersionedModel


def _add_versioned(suite: Suite, n: int, proxy: DynamoDbProxy, model: Any) -> None:
    """``patch if_match``: each implementation patches its own item, naming the version its
    previous call left."""
    posted = proxy.post(entity_class=VersionedPerson, data={**PERSON, ID: PATCHED_ID})
    version = [posted["version"]]
    counter = itertools.count()

    def dynamore_patch() -> Any:
        data = _patch_data(counter)
        result = proxy.patch(entity_class=VersionedPerson, data=data, if_match=version[0])
        version[0] = result["version"]
        return result

    person = model(VERSIONED_TITLE, "pynamodb", **{**PERSON, ID: "pynamodb"})
    person.save()
    pynamodb_counter = itertools.count()

    def pynamodb_save() -> Any:
        data = _patch_data(pynamodb_counter)
        person.age = data["age"]
        person.email = data["email"]
        person.save()  # conditioned on the version it holds, which it then increments
        return person

    suite.add("patch if_match", "dynamore", dynamore_patch, ops=n)
    suite.add("patch if_match", "PynamoDB VersionAttribute", pynamodb_save, ops=n)


def _patch_data(counter: Iterator[int]) -> dict[str, Any]:
    """A two-attribute patch of the stable item, with new values every time."""
    k = next(counter)
    return {ID: PATCHED_ID, "age": k % 100, "email": f"jeanne.{k}@example.com"}


def _add_verbs(suite: Suite, n: int, proxy: DynamoDbProxy, seed: SeedWay, model: Any) -> None:
    ids = {impl: itertools.count() for impl in ("dynamore", "seed", "PynamoDB")}
    patches = {impl: itertools.count() for impl in ("dynamore", "seed", "PynamoDB")}
    stable = {ID: PATCHED_ID}

    def dynamore_post() -> Any:
        data = {**PERSON, ID: f"d-{next(ids['dynamore'])}"}
        return proxy.post(entity_class=Person, data=data)

    def seed_post() -> Any:
        return seed.post({**PERSON, ID: f"s-{next(ids['seed'])}"})

    attributes = {k: v for k, v in PERSON.items() if k != ID}
    does_not_exist = model.pk.does_not_exist()

    def pynamodb_post() -> Any:
        person_id = f"p-{next(ids['PynamoDB'])}"
        person = model(TITLE, person_id, id_number=person_id, **attributes)
        person.save(condition=does_not_exist)
        return person

    puts = {impl: itertools.count() for impl in ("dynamore", "seed", "PynamoDB")}

    def put_data(impl: str) -> dict[str, Any]:
        return {**PERSON, ID: PATCHED_ID, "age": next(puts[impl]) % 100}

    def pynamodb_put() -> Any:
        data = put_data("PynamoDB")
        person = model(TITLE, PATCHED_ID, **data)
        person.save(condition=model.pk.exists())
        return person

    def pynamodb_patch() -> Any:
        data = _patch_data(patches["PynamoDB"])
        person = model(TITLE, PATCHED_ID)
        person.update(
            actions=[model.age.set(data["age"]), model.email.set(data["email"])],
            condition=model.pk.exists(),
        )
        return person

    suite.add("post", "dynamore", dynamore_post, ops=n)
    suite.add("post", "boto3 + jsonschema", seed_post, ops=n)
    suite.add("post", "PynamoDB", pynamodb_post, ops=n)
    suite.add("get", "dynamore", lambda: proxy.get(entity_class=Person, data=stable), ops=n)
    suite.add("get", "boto3 + jsonschema", lambda: seed.get(stable), ops=n)
    suite.add("get", "PynamoDB", lambda: model.get(TITLE, PATCHED_ID), ops=n)
    suite.add(
        "put", "dynamore", lambda: proxy.put(entity_class=Person, data=put_data("dynamore")), ops=n
    )
    suite.add("put", "boto3 + jsonschema", lambda: seed.put(put_data("seed")), ops=n)
    suite.add("put", "PynamoDB", pynamodb_put, ops=n)
    suite.add(
        "patch",
        "dynamore",
        lambda: proxy.patch(entity_class=Person, data=_patch_data(patches["dynamore"])),
        ops=n,
    )
    suite.add(
        "patch", "boto3 + jsonschema", lambda: seed.patch(_patch_data(patches["seed"])), ops=n
    )
    suite.add("patch", "PynamoDB", pynamodb_patch, ops=n)


def _check_same_item(proxy: DynamoDbProxy, seed: SeedWay, model: Any) -> None:
    """Refuse to measure unless every implementation reads the same stable item."""
    ours = proxy.get(entity_class=Person, data={ID: PATCHED_ID})
    if ours != {**PERSON, ID: PATCHED_ID} or seed.get({ID: PATCHED_ID}) != ours:
        raise RuntimeError(f"the stable item reads differently: {ours!r}")
    theirs = model.get(TITLE, PATCHED_ID)
    if theirs.address.as_dict() != PERSON["address"] or theirs.age != PERSON["age"]:
        raise RuntimeError("PynamoDB reads the stable item differently")


def run(ctx: Context) -> list[Result]:
    import boto3
    import jsonschema

    suite = Suite("entity", ctx)
    n = ctx.n(300, 20)
    validate_n = ctx.n(2_000, 50)
    with bench_table(ctx, "entity") as (_, table):
        client = Client(endpoint_url=ctx.endpoint, region=REGION, transport="native")
        try:
            proxy = DynamoDbProxy(table_name=table, client=client)
            resource = boto3.resource("dynamodb", endpoint_url=ctx.endpoint, region_name=REGION)
            seed = SeedWay(resource.Table(table))
            model = pynamodb_person(table, ctx.endpoint)
            proxy.post(entity_class=Person, data={**PERSON, ID: PATCHED_ID})
            _check_same_item(proxy, seed, model)
            _add_verbs(suite, n, proxy, seed, model)
            _add_versioned(suite, n, proxy, pynamodb_versioned_person(table, ctx.endpoint))
            draft7 = jsonschema.Draft7Validator(SCHEMA).validate
            compiled = compiled_validator(Person)
            suite.add("validate", "dynamore", lambda: compiled(PERSON), ops=validate_n)
            suite.add(
                "validate",
                "jsonschema.validate",
                lambda: jsonschema.validate(PERSON, SCHEMA),
                ops=validate_n,
            )
            suite.add(
                "validate", "Draft7Validator (pre-built)", lambda: draft7(PERSON), ops=validate_n
            )
            return suite.run()
        finally:
            client.close()
