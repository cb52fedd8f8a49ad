"""Entity queries: client CPU per returned item of paging through an entity type, dynamore's
``DynamoDbProxy.query`` / ``iter`` against boto3's ``Table.query`` and PynamoDB's
``Model.query``.

Every implementation lists every matching item of the same ``PERSON`` entities (8 attributes,
a list and a map among them, ``PK`` = ``PERSON``, ``SK`` = the id) of the same table, page by
page, in four cases: pages of 25 and of 1000 items, with no filter and with a filter that keeps
one item in ten (``age < 10``). One operation is one whole listing; the table shows client CPU
and wall time per *returned item* (the operation's figure divided by the number of matches).

Pages fill, as dynamore's do (DynamoDB applies ``Limit`` before the filter): a page holds the
page size of matches unless the data ends, and the next page resumes right after the last item
returned. The peers fill their pages with the very same sequence of requests as dynamore (the
same ``Limit`` for each request, from :func:`dynamore._query._request_limit`, and the same
start keys), so every implementation sends the same requests and gets the same responses: the
figures compare client work only.

- ``dynamore``: ``db.query(entity_class=Person, where=..., limit=N, cursor=...)`` page after
  page, as a REST API serves them (its cursors are signed with HMAC-SHA256 and encoded as text:
  work the peers do not do);
- ``dynamore iter``: ``db.iter(entity_class=Person, where=..., page_size=N)``;
- ``boto3 resource``: ``Table.query(KeyConditionExpression=Key("PK").eq("PERSON"),
  FilterExpression=Attr("age").lt(10), Limit=..., ExclusiveStartKey=...)``, the key attributes
  dropped from each item as dynamore drops them; numbers stay ``Decimal`` (turning them into
  ints, as dynamore's codec does, would cost boto3 more);
- ``PynamoDB``: ``Model.query("PERSON", filter_condition=Model.age < 10, page_size=...,
  last_evaluated_key=...)``, one page of its ``page_iter`` per request, each item turned into a
  model object with ``Model.from_raw_data`` (what its result iterator does).

Before measuring, the module checks that every implementation returns the same items in the
same pages.

Target (issue 11): dynamore >= 5x less client CPU per item than ``boto3 resource``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from benchmarks.bench_entity import PERSON, TITLE, Person, pynamodb_person
from benchmarks.bench_ops import REGION, bench_table
from benchmarks.harness import Context, Result, Suite
from dynamore import Client
from dynamore._query import _request_limit
from dynamore.dynamodb_proxy import DynamoDbProxy

__all__ = ["CASES", "run"]

#: (case name, page size, filtered?)
CASES = (
    ("page 25", 25, False),
    ("page 1000", 1000, False),
    ("page 25, filter 1/10", 25, True),
    ("page 1000, filter 1/10", 1000, True),
)
#: Keeps one item in ten: ages run 0..99 over the ids.
WHERE = {"age": {"<": 10}}
CURSOR_KEY = b"bench-query-cursor-key-0123456789"

Item = dict[str, Any]
#: One request of a peer: (Limit, start key or None) -> (items, LastEvaluatedKey, ScannedCount)
Fetch = Callable[[int, Optional[Any]], tuple[list[Any], Optional[Any], int]]


def person(i: int) -> Item:
    """The i-th stored person: PERSON with its own id and an age that cycles through 0..99."""
    return {**PERSON, "id_number": f"{i:06d}", "age": i % 100}


def fill_page(
    fetch: Fetch, limit: int, start: Optional[Any], key_of: Callable[[Any], Any]
) -> tuple[list[Any], Optional[Any]]:
    """A filled page the way ``dynamore._query.query_page`` reads it (same requests), for a
    peer's ``fetch``: up to ``limit`` matches and the key to resume from (None at the end)."""
    items: list[Any] = []
    read = 0
    while True:
        missing = limit - len(items)
        got, last_key, scanned = fetch(_request_limit(missing, read, len(items)), start)
        read += scanned
        if len(got) >= missing:
            items.extend(got[:missing])
            if len(got) == missing and last_key is None:
                return items, None
            return items, key_of(items[-1])
        items.extend(got)
        if last_key is None:
            return items, None
        start = last_key


def list_pages(page: Callable[[Optional[Any]], tuple[list[Any], Optional[Any]]]) -> list[Any]:
    """Every page, following each page's cursor until there is none."""
    pages = []
    cursor = None
    while True:
        items, cursor = page(cursor)
        pages.append(items)
        if cursor is None:
            return pages


class Listings:
    """Each implementation's way to list the matches of one case, page by page."""

    def __init__(self, db: DynamoDbProxy, table: Any, model: Any) -> None:
        from boto3.dynamodb.conditions import Attr, Key

        self.db = db
        self.table = table
        self.model = model
        self.key_condition = Key("PK").eq(TITLE)
        self.boto3_filter = Attr("age").lt(10)
        self.pynamodb_filter = model.age < 10

    def dynamore(self, limit: int, filtered: bool) -> list[list[Item]]:
        where = WHERE if filtered else None

        def page(cursor: Optional[str]) -> tuple[list[Item], Optional[str]]:
            got = self.db.query(entity_class=Person, where=where, limit=limit, cursor=cursor)
            return got.items, got.cursor

        return list_pages(page)

    def dynamore_iter(self, limit: int, filtered: bool) -> list[Item]:
        where = WHERE if filtered else None
        return list(self.db.iter(entity_class=Person, where=where, page_size=limit))

    def boto3(self, limit: int, filtered: bool) -> list[list[Item]]:
        options: dict[str, Any] = {"KeyConditionExpression": self.key_condition}
        if filtered:
            options["FilterExpression"] = self.boto3_filter

        def fetch(request_limit: int, start: Optional[Item]) -> tuple[list[Item], Any, int]:
            extra = {"ExclusiveStartKey": start} if start is not None else {}
            response = self.table.query(Limit=request_limit, **options, **extra)
            return response["Items"], response.get("LastEvaluatedKey"), response["ScannedCount"]

        def page(start: Optional[Item]) -> tuple[list[Item], Optional[Item]]:
            items, cursor = fill_page(
                fetch, limit, start, lambda item: {"PK": item["PK"], "SK": item["SK"]}
            )
            return [{k: v for k, v in i.items() if k != "PK" and k != "SK"} for i in items], cursor

        return list_pages(page)

    def pynamodb(self, limit: int, filtered: bool) -> list[list[Any]]:
        model = self.model
        condition = self.pynamodb_filter if filtered else None

        def fetch(request_limit: int, start: Optional[Item]) -> tuple[list[Any], Any, int]:
            pages = model.query(
                TITLE, filter_condition=condition, page_size=request_limit, last_evaluated_key=start
            ).page_iter
            response = pages.next()
            items = [model.from_raw_data(raw) for raw in response["Items"]]
            return items, pages.last_evaluated_key, response["ScannedCount"]

        def key_of(item: Any) -> Item:
            return {"PK": {"S": item.pk}, "SK": {"S": item.sk}}

        return list_pages(lambda start: fill_page(fetch, limit, start, key_of))


def _ids(pages: list[list[Any]]) -> list[list[str]]:
    return [[i["id_number"] if isinstance(i, dict) else i.id_number for i in p] for p in pages]


def _check_same_pages(listings: Listings, n: int) -> dict[str, int]:
    """Refuse to measure unless every implementation lists the same items in the same pages;
    return the number of matches of each case."""
    matches = {}
    for case, limit, filtered in CASES:
        expected_ids = [
            p["id_number"] for p in map(person, range(n)) if not filtered or p["age"] < 10
        ]
        ours = listings.dynamore(limit, filtered)
        pages = _ids(ours)
        if [i for p in pages for i in p] != expected_ids:
            raise RuntimeError(f"{case}: dynamore listed other items")
        if any(len(p) != limit for p in pages[:-1]):
            raise RuntimeError(f"{case}: dynamore's pages do not fill")
        if ours[0][0] != person(int(expected_ids[0])):
            raise RuntimeError(f"{case}: dynamore read {ours[0][0]!r}")
        if [p["id_number"] for p in listings.dynamore_iter(limit, filtered)] != expected_ids:
            raise RuntimeError(f"{case}: dynamore iter listed other items")
        for name, theirs in (
            ("boto3 resource", listings.boto3(limit, filtered)),
            ("PynamoDB", listings.pynamodb(limit, filtered)),
        ):
            if _ids(theirs) != pages:
                raise RuntimeError(f"{case}: {name} pages differ from dynamore's")
        matches[case] = len(expected_ids)
    return matches


def _per_item(results: list[Result], matches: dict[str, int]) -> list[Result]:
    """The suite's figures per listing, turned into figures per returned item."""
    return [
        Result(
            r.module,
            r.case,
            r.impl,
            r.ops,
            r.rounds,
            r.cpu_us / matches[r.case],
            r.wall_us / matches[r.case],
            {"per": "item", "items_per_op": matches[r.case]},
        )
        for r in results
    ]


def _load(client: Client, table: str, n: int) -> None:
    client.batch_write(
        table, (Person(person(i)).data_with_identity() for i in range(n)), key_names=("PK", "SK")
    )


def run(ctx: Context) -> list[Result]:
    import boto3

    suite = Suite("query", ctx, warmup=1)
    n = ctx.n(2_000, 60)
    with bench_table(ctx, "query") as (client, table):
        _load(client, table, n)
        db = DynamoDbProxy(table_name=table, client=client, cursor_key=CURSOR_KEY)
        resource = boto3.resource("dynamodb", endpoint_url=ctx.endpoint, region_name=REGION)
        listings = Listings(db, resource.Table(table), pynamodb_person(table, ctx.endpoint))
        matches = _check_same_pages(listings, n)
        for case, limit, filtered in CASES:
            for impl, listing in (
                ("dynamore", listings.dynamore),
                ("dynamore iter", listings.dynamore_iter),
                ("boto3 resource", listings.boto3),
                ("PynamoDB", listings.pynamodb),
            ):
                suite.add(case, impl, _bind(listing, limit, filtered), ops=1)
        return _per_item(suite.run(), matches)


def _bind(listing: Callable[[int, bool], Any], limit: int, filtered: bool) -> Callable[[], Any]:
    return lambda: listing(limit, filtered)
