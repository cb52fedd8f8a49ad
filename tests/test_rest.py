"""dynamore.rest.RestApi against DynamoDB Local: every status of the issue's table, each event
source end to end, JSON Merge Patch, query filters and pagination through the handler."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any, Callable, Optional
from urllib.parse import quote, unquote

import pytest

from dynamore import Client
from dynamore._tables import table_definition
from dynamore.dynamodb_proxy import DynamoDbProxy
from dynamore.exceptions import ConfigurationError
from dynamore.rest import RestApi
from tests import ddb_admin
from tests.faultproxy import FaultProxy
from tests.rest_kit import BUILDERS, Counter, Doc, Person, alb_event, http_v2_event, rest_v1_event

CURSOR_KEY = b"rest-tests-cursor-key-0123456789"


Call = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def table_name(ddb_endpoint: str) -> Iterator[str]:
    name = f"rest-{uuid.uuid4().hex[:12]}"
    with Client(
        endpoint_url=ddb_endpoint, region="us-east-1", credentials=("testing", "testing")
    ) as admin:
        admin.call("CreateTable", table_definition(name, [Person, Counter, Doc]))
        admin.wait_for_table(name)
    try:
        yield name
    finally:
        ddb_admin.delete_table(ddb_endpoint, name)


@pytest.fixture
def api(table_name: str, client: Client) -> RestApi:
    return RestApi(
        table_name=table_name,
        entities=[Person, Counter, Doc],
        client=client,
        cursor_key=CURSOR_KEY,
    )


def caller(api: RestApi, source: str = "http-v2") -> Call:
    """``call(method, path, body=None, query="", headers=None)`` -> (status, headers, body)."""

    def call(
        method: str,
        path: str,
        body: Any = None,
        *,
        query: str = "",
        headers: Optional[dict[str, str]] = None,
        raw: Optional[bytes] = None,
    ) -> Any:
        sent = {"Content-Type": "application/json"} if body is not None else {}
        sent.update(headers or {})
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        event = BUILDERS[source](method, path, query=query, body=data, headers=sent)
        response = api.handler(event, None)
        got = response.get("headers") or {
            k: v[0] for k, v in response.get("multiValueHeaders", {}).items()
        }
        text = response["body"]
        return response["statusCode"], got, json.loads(text) if text else None

    return call


def person(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id_number": f"p{i:04d}",
        "name": f"name {i}",
        "age": i % 90,
        "gender": "female" if i % 2 else "male",
        **extra,
    }


def new_id() -> str:
    return uuid.uuid4().hex[:10]


# -- each event source, one whole life cycle ---------------------------------------------------


@pytest.mark.parametrize("source", sorted(BUILDERS))
def test_a_whole_life_cycle_through_each_event_source(
    api: RestApi, source: str, client: Client, table_name: str
) -> None:
    call = caller(api, source)
    pid = new_id()
    status, headers, body = call("POST", "/person", {"id_number": pid, "name": "Ann", "age": 40})
    stage = "/prod" if source == "rest-v1" else ""  # the REST API builder's execute-api URL
    assert (status, headers["Location"]) == (201, f"{stage}/person/{pid}")
    assert body == {"id_number": pid, "name": "Ann", "age": 40}
    assert call("GET", f"/person/{pid}")[2] == body
    status, _, body = call("PATCH", f"/person/{pid}", {"age": 41, "gender": "female"})
    assert (status, body["age"], body["gender"]) == (200, 41, "female")
    status, _, body = call("PUT", f"/person/{pid}", {"name": "Bea"})
    assert (status, body) == (200, {"id_number": pid, "name": "Bea"})
    assert client.get_item(table_name, {"PK": "PERSON", "SK": pid}) == {
        "PK": "PERSON",
        "SK": pid,
        "id_number": pid,
        "name": "Bea",
    }
    status, headers, body = call("DELETE", f"/person/{pid}")
    assert (status, body) == (204, None)
    assert headers["X-Request-Id"]
    assert call("GET", f"/person/{pid}")[0] == 404


# (event builder, the path prefix of the URL the client called): the stage of an execute-api
# URL is part of it, a custom domain's API mapping and the $default stage are not.
SELF_LINK_SOURCES = {
    "REST API, execute-api URL with its stage": (rest_v1_event, "/prod"),
    "REST API, custom domain": (partial(rest_v1_event, custom_domain=True), ""),
    "HTTP API, $default stage": (http_v2_event, ""),
    "HTTP API, named stage": (partial(http_v2_event, stage="v2"), "/v2"),
    "Function URL": (partial(http_v2_event, function_url=True), ""),
    "ALB": (alb_event, ""),
}


@pytest.mark.parametrize("source", sorted(SELF_LINK_SOURCES))
def test_location_is_where_the_client_finds_the_new_item(api: RestApi, source: str) -> None:
    build, prefix = SELF_LINK_SOURCES[source]
    pid = f"{new_id()} é"  # to be percent-encoded in the link
    body = json.dumps({"id_number": pid, "name": "Lou"}).encode()
    created = api.handler(
        build("POST", "/person", body=body, headers={"Content-Type": "application/json"})
    )
    location = created["headers"]["Location"]
    assert location == f"{prefix}/person/{quote(pid, safe='')}"
    # Following the link: each builder takes the path below the stage, and puts the stage
    # where its source does; the REST API passes the path decoded.
    below_stage = location[len(prefix) :]
    v1 = getattr(build, "func", build) is rest_v1_event
    fetched = api.handler(build("GET", unquote(below_stage) if v1 else below_stage))
    assert (fetched["statusCode"], json.loads(fetched["body"])["id_number"]) == (200, pid)


@pytest.mark.parametrize("source", sorted(SELF_LINK_SOURCES))
def test_the_openapi_document_names_the_stage_as_its_server(api: RestApi, source: str) -> None:
    build, prefix = SELF_LINK_SOURCES[source]
    document = json.loads(api.handler(build("GET", "/openapi.json"))["body"])
    assert document.get("servers") == ([{"url": prefix}] if prefix else None)
    assert "/person" in document["paths"]


def test_base64_bodies_are_decoded(api: RestApi) -> None:
    pid = new_id()
    payload = json.dumps({"id_number": pid, "name": "Zoë"}).encode()
    for build in (rest_v1_event, http_v2_event, alb_event):
        event = build(
            "PUT" if build is not rest_v1_event else "POST",
            "/person" if build is rest_v1_event else f"/person/{pid}",
            body=payload,
            headers={"Content-Type": "application/json"},
            base64_body=True,
        )
        response = api.handler(event, None)
        assert response["statusCode"] in (200, 201), response
        assert json.loads(response["body"])["name"] == "Zoë"
        assert response["isBase64Encoded"] is False


def test_every_response_carries_the_request_id(api: RestApi) -> None:
    for event in (
        http_v2_event("GET", "/person/nobody", request_id="req-404"),
        rest_v1_event("GET", "/person", request_id="req-200"),
    ):
        response = api.handler(event, None)
        wanted = event["requestContext"]["requestId"]
        assert response["headers"]["X-Request-Id"] == wanted
    problem = json.loads(api.handler(http_v2_event("GET", "/x", request_id="r9"), None)["body"])
    assert problem["request_id"] == "r9"

    class Context:
        aws_request_id = "invocation-7"

    response = api.handler({"not": "http"}, Context())
    assert response["statusCode"] == 400
    assert response["headers"]["X-Request-Id"] == "invocation-7"


# -- the status table --------------------------------------------------------------------------


def check_problem(
    response: tuple[int, dict[str, str], Any], status: int, detail: str = ""
) -> dict[str, Any]:
    got, headers, body = response
    assert got == status, body
    assert headers["Content-Type"] == "application/problem+json"
    assert body["status"] == status and body["type"] == "about:blank" and body["title"]
    assert detail in body["detail"]
    assert "Traceback" not in json.dumps(body)
    return body


def test_400_for_malformed_json_query_and_cursor(api: RestApi) -> None:
    call = caller(api)
    check_problem(call("POST", "/person", raw=b'{"id_number": ', body={}), 400, "not JSON")
    check_problem(call("POST", "/person", raw=b'{"a": NaN}', body={}), 400, "not JSON")
    check_problem(call("POST", "/person", raw=b"", body={}), 400, "JSON body is needed")
    check_problem(call("GET", "/person", query="age=old"), 400, "age")
    check_problem(call("GET", "/person", query="age[near]=3"), 400, "unknown operator")
    check_problem(call("GET", "/person", query="shoe=3"), 400, "not a property")
    check_problem(call("GET", "/person", query="limit=0"), 400, "limit")
    check_problem(call("GET", "/person", query="limit=1001"), 400, "limit")
    check_problem(call("GET", "/person", query="index=GSI9"), 400, "unknown index")
    check_problem(call("GET", "/person", query="index=GSI1"), 400, "gender")
    check_problem(call("GET", "/person", query="cursor=garbage"), 400, "cursor")
    for _ in range(2):
        assert call("POST", "/person", person(9, id_number=new_id()))[0] == 201
    cursor = call("GET", "/person", query="limit=1")[2]["cursor"]
    assert cursor is not None
    # A cursor of one query is refused by another.
    check_problem(call("GET", "/person", query=f"limit=1&age=3&cursor={cursor}"), 400, "cursor")


def test_404_for_unknown_routes_and_items(api: RestApi) -> None:
    call = caller(api)
    check_problem(call("GET", "/people"), 404)
    check_problem(call("GET", "/person/a/b"), 404)
    check_problem(call("GET", "/"), 404)
    check_problem(call("GET", "/person/nobody"), 404)
    check_problem(call("GET", "/counter/not-a-number"), 404)  # the id is an integer
    check_problem(call("GET", f"/person/{'x' * 2000}"), 404)  # over DynamoDB's key size
    check_problem(call("PUT", "/person/nobody", {"name": "N"}), 404)
    check_problem(call("PATCH", "/person/nobody", {"name": "N"}), 404)
    check_problem(call("PATCH", "/person/nobody", {"name": None}), 404)
    check_problem(call("DELETE", "/person/nobody"), 404)


def test_405_says_what_is_allowed(api: RestApi) -> None:
    call = caller(api)
    _, headers, _ = call("DELETE", "/person")
    check_problem(call("DELETE", "/person"), 405)
    assert headers["Allow"] == "GET, POST"
    _, headers, _ = call("POST", "/person/x", {})
    assert headers["Allow"] == "DELETE, GET, PATCH, PUT"
    _, headers, _ = call("POST", "/openapi.json", {})
    assert headers["Allow"] == "GET"


def test_409_when_the_id_exists(api: RestApi) -> None:
    call = caller(api)
    data = person(1, id_number=new_id())
    assert call("POST", "/person", data)[0] == 201
    check_problem(call("POST", "/person", data), 409, "already exists")


def test_412_when_a_pre_hook_refuses(api: RestApi) -> None:
    call = caller(api)
    check_problem(call("POST", "/counter", {"n": 1, "locked": True}), 412, "refused POST")
    assert call("POST", "/counter", {"n": 2, "locked": False})[0] == 201
    assert call("PATCH", "/counter/2", {"locked": True})[0] == 200
    check_problem(call("PUT", "/counter/2", {"locked": False}), 412, "refused PUT")
    check_problem(call("DELETE", "/counter/2"), 412, "refused DELETE")
    assert call("GET", "/counter/2")[2] == {"n": 2, "locked": True}


def test_413_for_a_body_over_the_limit(table_name: str, client: Client) -> None:
    small = RestApi(table_name=table_name, entities=[Person], client=client, max_body=100)
    call = caller(small)
    body = person(1, name="x" * 200)
    check_problem(call("POST", "/person", body), 413, "over 100 bytes")


def test_413_for_an_item_over_dynamodbs_limit(api: RestApi) -> None:
    body = person(2, id_number=new_id(), name="x" * 410_000)
    check_problem(caller(api)("POST", "/person", body), 413, "400 KB")


def test_415_for_a_body_that_is_not_json(api: RestApi) -> None:
    call = caller(api)
    body = {"id_number": new_id(), "name": "T"}
    for media in ("text/plain", "application/x-www-form-urlencoded", ""):
        check_problem(call("POST", "/person", body, headers={"Content-Type": media}), 415)
    for media in ("application/json; charset=utf-8", "application/merge-patch+json"):
        got = call("PATCH", f"/person/{body['id_number']}", {"name": "U"}, headers={})
        assert got[0] == 404  # a JSON type, so the item's absence is what answers
        got = call("PATCH", "/person/x", {"name": "U"}, headers={"Content-Type": media})
        assert got[0] == 404


def test_422_lists_what_failed_validation(api: RestApi) -> None:
    call = caller(api)
    body = check_problem(call("POST", "/person", person(3, age=-1)), 422)
    assert body["errors"] == [{"path": "/age", "message": body["errors"][0]["message"]}]
    assert "minimum" in body["errors"][0]["message"]
    check_problem(call("POST", "/person", {"name": "no id"}), 422, "id_number")
    check_problem(call("POST", "/person", ["not", "an", "object"]), 422)
    pid = new_id()
    assert call("POST", "/person", person(4, id_number=pid))[0] == 201
    body = check_problem(call("PUT", f"/person/{pid}", {"id_number": "other", "name": "N"}), 422)
    assert body["errors"][0]["path"] == "/id_number"
    check_problem(call("PATCH", f"/person/{pid}", {"id_number": "other"}), 422)
    check_problem(call("PATCH", f"/person/{pid}", {"name": None}), 422, "name")  # required
    check_problem(call("PATCH", f"/person/{pid}", {"age": "old"}), 422, "age")


@pytest.mark.parametrize("fault, status", [("throttle", 429), ("status_503", 503), ("refuse", 503)])
def test_429_and_503_say_when_to_retry(
    fault: str, status: int, ddb_endpoint: str, table_name: str
) -> None:
    with FaultProxy(ddb_endpoint) as proxy:
        if fault == "refuse":
            proxy.refuse_connections()
        else:
            proxy.inject(fault, operation="GetItem")
        with Client(endpoint_url=proxy.url, retry=1) as faulty:
            api = RestApi(table_name=table_name, entities=[Person], client=faulty)
            got = caller(api)("GET", "/person/anyone")
    check_problem(got, status)
    assert got[1]["Retry-After"] == "1"


def test_500_only_for_a_bug_and_without_its_details(
    api: RestApi, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Counter, "bug", True)
    with caplog.at_level(logging.ERROR, logger="dynamore.rest"):
        body = check_problem(caller(api)("POST", "/counter", {"n": 666}), 500)
    assert "secret" not in json.dumps(body) and "RuntimeError" not in json.dumps(body)
    # The details go to the log, under the request id the client was given.
    (record,) = caplog.records
    assert body["request_id"] in record.getMessage()
    assert record.exc_info is not None and "secret internal detail" in str(record.exc_info[1])


# -- merge patch -------------------------------------------------------------------------------


def test_merge_patch_removes_with_null_and_merges_objects(
    api: RestApi, client: Client, table_name: str
) -> None:
    call = caller(api)
    pid = new_id()
    data = {**person(5, id_number=pid), "address": {"city": "Oslo", "zip": "0150"}}
    assert call("POST", "/person", data)[0] == 201
    status, _, body = call(
        "PATCH",
        f"/person/{pid}",
        {"age": None, "address": {"zip": None, "city": "Bergen"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert status == 200
    stored = client.get_item(table_name, {"PK": "PERSON", "SK": pid}) or {}
    assert "age" not in stored and "age" not in body
    assert stored["address"] == body["address"] == {"city": "Bergen"}
    assert stored["name"] == data["name"]
    # The index keys follow the change: without an age the item left GSI1's sort order.
    assert "GSI1SK" not in stored


def test_a_flat_patch_keeps_attributes_the_entity_does_not_own(
    api: RestApi, client: Client, table_name: str
) -> None:
    pid = new_id()
    assert caller(api)("POST", "/person", person(6, id_number=pid))[0] == 201
    client.update_item(
        table_name,
        {"PK": "PERSON", "SK": pid},
        update="SET expires_at = :t",
        values={":t": 1_900_000_000},
    )
    assert caller(api)("PATCH", f"/person/{pid}", {"name": "Flat"})[0] == 200
    stored = client.get_item(table_name, {"PK": "PERSON", "SK": pid}) or {}
    assert stored["expires_at"] == 1_900_000_000 and stored["name"] == "Flat"


# -- listing -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listed(ddb_endpoint: str) -> Iterator[tuple[RestApi, Client]]:
    """A table of 120 persons and 30 counters, written through the API itself."""
    name = f"rest-list-{uuid.uuid4().hex[:8]}"
    with Client(
        endpoint_url=ddb_endpoint, region="us-east-1", credentials=("testing", "testing")
    ) as admin:
        admin.call("CreateTable", table_definition(name, [Person, Counter, Doc]))
        admin.wait_for_table(name)
        api = RestApi(
            table_name=name,
            entities={"people": Person, "counters": Counter},
            client=admin,
            cursor_key=CURSOR_KEY,
        )
        call = caller(api)
        for i in range(120):
            assert call("POST", "/people", person(i, tags=[f"t{i % 3}"]))[0] == 201
        for n in range(30):
            assert call("POST", "/counters", {"n": n})[0] == 201
        try:
            yield api, admin
        finally:
            ddb_admin.delete_table(ddb_endpoint, name)


def pages(call: Call, path: str, query: str) -> list[list[dict[str, Any]]]:
    out = []
    cursor: Optional[str] = None
    while True:
        q = query + (f"&cursor={cursor}" if cursor else "")
        status, _, body = call("GET", path, query=q.lstrip("&"))
        assert status == 200, body
        out.append(body["items"])
        cursor = body["cursor"]
        if cursor is None:
            return out


@pytest.mark.parametrize("source", ["http-v2", "rest-v1", "alb"])
def test_pagination_end_to_end_through_the_handler(
    listed: tuple[RestApi, Client], source: str
) -> None:
    api, _ = listed
    call = caller(api, source)
    got = pages(call, "/people", "limit=25")
    assert [len(p) for p in got[:-1]] == [25] * 4 and len(got[-1]) <= 25
    ids = [p["id_number"] for page in got for p in page]
    assert ids == [f"p{i:04d}" for i in range(120)]
    status, _, body = call("GET", "/people")  # default page size
    assert len(body["items"]) == 25


def test_filters_are_read_by_the_schema_type(listed: tuple[RestApi, Client]) -> None:
    api, _ = listed
    call = caller(api)
    everyone = [person(i, tags=[f"t{i % 3}"]) for i in range(120)]

    def ids(query: str) -> list[str]:
        return [p["id_number"] for page in pages(call, "/people", query) for p in page]

    def expect(keep: Callable[[dict[str, Any]], bool]) -> list[str]:
        return [p["id_number"] for p in everyone if keep(p)]

    assert ids("limit=7&gender=female&age[ge]=18&age[lt]=40") == expect(
        lambda p: p["gender"] == "female" and 18 <= p["age"] < 40
    )
    assert ids("age[eq]=5") == expect(lambda p: p["age"] == 5)
    assert ids("age[ne]=5&age[le]=6") == expect(lambda p: p["age"] != 5 and p["age"] <= 6)
    assert ids("age[gt]=85") == expect(lambda p: p["age"] > 85)
    assert ids("name[begins_with]=name%2011") == expect(lambda p: p["name"].startswith("name 11"))
    assert ids("name[contains]=9") == expect(lambda p: "9" in p["name"])
    assert ids("tags[contains]=t1&limit=10") == expect(lambda p: "t1" in p["tags"])
    assert ids("id_number[ge]=p0110") == expect(lambda p: p["id_number"] >= "p0110")
    # Equality on a string is a string, even when it reads as a number.
    assert ids("name=5") == []
    assert [c["n"] for page in pages(call, "/counters", "n[lt]=3") for c in page] == [0, 1, 2]


def test_index_listing_in_the_index_order(listed: tuple[RestApi, Client]) -> None:
    api, _ = listed
    call = caller(api)
    got = pages(call, "/people", "index=GSI1&gender=male&age[lt]=20&limit=4")
    ages = [p["age"] for page in got for p in page]
    males = [person(i) for i in range(120) if i % 2 == 0 and i % 90 < 20]
    assert ages == sorted(p["age"] for p in males)


def test_collections_named_by_a_dict_and_bad_configurations() -> None:
    with pytest.raises(ConfigurationError, match="not an Entity subclass"):
        RestApi(table_name="T", entities=[dict])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="cannot name a collection"):
        RestApi(table_name="T", entities={"a/b": Person})
    with pytest.raises(ConfigurationError, match="two entity types"):
        RestApi(table_name="T", entities=[Person, Person])
    with pytest.raises(ConfigurationError, match="at least one"):
        RestApi(table_name="T", entities=[])
    api = RestApi(table_name="T", entities=[Person, Counter], check_table=False)
    assert sorted(api.collections) == ["counter", "person"]


# -- versions: ETag and If-Match ---------------------------------------------------------------


def test_etags_follow_the_version_and_if_match_guards_every_write(api: RestApi) -> None:
    call = caller(api)
    did = new_id()
    status, headers, body = call("POST", "/doc", {"id": did, "title": "a", "version": 99})
    assert (status, headers["ETag"], body["version"]) == (201, '"1"', 1)  # the store owns it
    assert call("GET", f"/doc/{did}")[1]["ETag"] == '"1"'
    status, headers, body = call("PUT", f"/doc/{did}", {"title": "b"}, headers={"If-Match": '"1"'})
    assert (status, headers["ETag"], body["title"]) == (200, '"2"', "b")
    # A client holding version 1 is refused and shown what is stored, with its ETag.
    status, headers, body = call("PUT", f"/doc/{did}", {"title": "c"}, headers={"If-Match": '"1"'})
    assert (status, headers["ETag"]) == (412, '"2"')
    assert body["current"] == {"id": did, "title": "b", "version": 2}
    status, headers, _ = call("PATCH", f"/doc/{did}", {"title": "d"}, headers={"If-Match": 'W/"2"'})
    assert (status, headers["ETag"]) == (200, '"3"')
    assert call("DELETE", f"/doc/{did}", headers={"If-Match": '"2"'})[0] == 412
    assert call("GET", f"/doc/{did}")[2]["title"] == "d"
    assert call("DELETE", f"/doc/{did}", headers={"If-Match": "*"})[0] == 204
    assert call("DELETE", f"/doc/{did}", headers={"If-Match": '"3"'})[0] == 404


def test_ten_clients_with_the_same_etag_one_wins(api: RestApi) -> None:
    import threading

    call = caller(api)
    did = new_id()
    call("POST", "/doc", {"id": did, "title": "start"})
    results: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def replace(i: int) -> None:
        got = call("PUT", f"/doc/{did}", {"title": f"by {i}"}, headers={"If-Match": '"1"'})
        with lock:
            results.append((got[0], got[2]))

    threads = [threading.Thread(target=replace, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [body for status, body in results if status == 200]
    lost = [body for status, body in results if status == 412]
    assert (len(won), len(lost)) == (1, 9)
    assert all(body["current"] == won[0] for body in lost)
    assert won[0]["version"] == 2


def test_a_merge_patch_never_overwrites_a_change_made_after_its_read(
    api: RestApi, client: Client, table_name: str
) -> None:
    call = caller(api)
    did = new_id()
    call("POST", "/doc", {"id": did, "title": "a", "meta": {"x": 1, "y": 2}})
    other = DynamoDbProxy(table_name=table_name, client=client)

    def concurrent_change() -> None:  # between the handler's read and its write
        other.patch(entity_class=Doc, data={"id": did, "title": "theirs"})

    Doc.on_put = concurrent_change
    status, headers, body = call("PATCH", f"/doc/{did}", {"meta": {"y": None}})
    assert (status, headers["ETag"]) == (412, '"2"')
    assert body["current"]["title"] == "theirs"
    stored = call("GET", f"/doc/{did}")[2]
    assert stored == {"id": did, "title": "theirs", "meta": {"x": 1, "y": 2}, "version": 2}
    # Retried with the ETag it was given, the patch applies on top of their change.
    status, _, body = call(
        "PATCH", f"/doc/{did}", {"meta": {"y": None}}, headers={"If-Match": '"2"'}
    )
    assert (status, body) == (200, {"id": did, "title": "theirs", "meta": {"x": 1}, "version": 3})


@pytest.mark.parametrize(
    "path, value, status",
    [
        ("/doc", "1", 400),  # not quoted
        ("/doc", '"1", "2"', 400),  # one ETag only
        ("/doc", '"v1"', 400),
        ("/person", '"1"', 412),  # no versions: no ETag can match
    ],
)
def test_if_match_values_that_cannot_match(
    api: RestApi, path: str, value: str, status: int
) -> None:
    call = caller(api)
    pid = new_id()
    data = {"id": pid} if path == "/doc" else {"id_number": pid, "name": "n"}
    assert call("POST", path, data)[0] == 201
    assert call("DELETE", f"{path}/{pid}", headers={"If-Match": value})[0] == status
    assert call("GET", f"{path}/{pid}")[0] == 200  # nothing was deleted


def test_the_openapi_document_describes_etags_for_versioned_types_only(api: RestApi) -> None:
    from openapi_spec_validator import validate

    doc = api.openapi()
    validate(doc)
    put_doc = doc["paths"]["/doc/{id}"]["put"]
    assert [p["name"] for p in put_doc["parameters"]] == ["If-Match"]
    assert "ETag" in put_doc["responses"]["200"]["headers"]
    assert "ETag" in doc["paths"]["/doc"]["post"]["responses"]["201"]["headers"]
    put_person = doc["paths"]["/person/{id}"]["put"]
    assert put_person["parameters"] == []
    assert "ETag" not in put_person["responses"]["200"]["headers"]
