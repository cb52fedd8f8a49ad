"""The Lambda life cycle (:mod:`dynamore._lambda`): prewarm during INIT, a SnapStart restore,
and a cold path over https that imports nothing it does not need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import dynamore
from dynamore import Client, _signing
from dynamore._transports.native import NativeTransport
from dynamore.dynamodb_proxy import DynamoDbProxy
from dynamore.entity import Entity
from dynamore.testing import TLSProxy
from tests.faultproxy import FaultProxy
from tests.http_kit import TinyServer, answer, clear_proxy_env, serve_forever, wait_until
from tests.kit import ROOT, avoided

ITEM_ANSWER = b'{"Item":{"PK":{"S":"a"},"SK":{"S":"b"}}}'


class Thing(Entity):
    SCHEMA = {"title": "THING", "properties": {"id": {"type": "string"}}}
    ID_ATTRIBUTE = "id"


@pytest.fixture
def server() -> Any:
    with TinyServer(serve_forever(lambda n: answer(ITEM_ANSWER))) as running:
        yield running


def _count_key_derivations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = _signing.signing_key

    def counting(secret: str, day: str, region: str, service: str) -> bytes:
        calls.append(day)
        return real(secret, day, region, service)

    monkeypatch.setattr(_signing, "signing_key", counting)
    return calls


def test_after_prewarm_the_first_request_opens_no_connection_and_derives_no_key(
    server: TinyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    derived = _count_key_derivations(monkeypatch)
    with Client(endpoint_url=server.url, transport="native", credentials=("a", "b")) as db:
        assert server.connections == 0  # building the client connects nowhere
        db.prewarm()
        wait_until(lambda: server.connections == 1)
        assert db.transport.idle == 1  # type: ignore[attr-defined]
        assert len(derived) == 1 and not server.requests  # prewarming sends no request
        assert db.get_item("T", {"PK": "a", "SK": "b"}) == {"PK": "a", "SK": "b"}
        assert server.connections == 1 and len(server.requests) == 1
        assert len(derived) == 1
        db.prewarm()  # a pooled live connection is kept, not doubled
        assert server.connections == 1 and db.transport.idle == 1  # type: ignore[attr-defined]


def test_without_prewarm_the_first_request_pays_both(
    server: TinyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    derived = _count_key_derivations(monkeypatch)
    with Client(endpoint_url=server.url, transport="native", credentials=("a", "b")) as db:
        assert server.connections == 0 and not derived
        db.get_item("T", {"PK": "a", "SK": "b"})
        assert len(derived) == 1
        wait_until(lambda: server.connections == 1)


def test_native_prewarm_opens_up_to_the_pool_bound(server: TinyServer) -> None:
    with NativeTransport(server.url, max_connections=2) as transport:
        transport.prewarm(5)
        assert transport.idle == 2
        wait_until(lambda: server.connections == 2)


def test_prewarm_a_proxy_checks_the_table_and_opens_the_connection(
    ddb_endpoint: str, table: str
) -> None:
    with FaultProxy(ddb_endpoint) as faults:
        client = Client(endpoint_url=faults.url, transport="native")
        db = DynamoDbProxy(table_name=table, client=client)
        db.prewarm(Thing)
        assert faults.forwarded["DescribeTable"] == 1
        opened = faults.connections
        db.post(entity_class=Thing, data={"id": "1"})
        assert faults.connections == opened  # the first verb reuses the warm connection
        assert faults.forwarded["DescribeTable"] == 1  # and checks the table no more
        client.close()
    with pytest.raises(TypeError, match="DynamoDbProxy"):
        dynamore.prewarm(client, Thing)


def test_after_restore_drops_pooled_connections_and_rereads_credentials(
    server: TinyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "BEFORE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    db = Client(endpoint_url=server.url, transport="native")
    try:
        db.get_item("T", {"PK": "a", "SK": "b"})
        assert db.transport.idle == 1  # type: ignore[attr-defined]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AFTER")  # what the restored sandbox has
        dynamore.after_restore()
        assert db.transport.idle == 0  # type: ignore[attr-defined]
        db.get_item("T", {"PK": "a", "SK": "b"})
        assert server.connections == 2
        assert b"Credential=AFTER/" in server.requests[-1]
    finally:
        db.close()


def test_explicit_static_credentials_stay_after_restore(server: TinyServer) -> None:
    with Client(endpoint_url=server.url, transport="native", credentials=("KEEP", "s")) as db:
        dynamore.after_restore()
        db.get_item("T", {"PK": "a", "SK": "b"})
        assert b"Credential=KEEP/" in server.requests[-1]


_SNAPSTART_CHILD = """
import sys
import snapshot_restore_py
from dynamore import Client

db = Client(endpoint_url=sys.argv[1], transport="native", region="us-east-1")
Client(endpoint_url=sys.argv[1], transport="native", region="us-east-1").close()
db.get_item("T", {"PK": "a", "SK": "b"})
before = db.transport.idle
import os
os.environ["AWS_ACCESS_KEY_ID"] = "RESTORED"
for hook in snapshot_restore_py.hooks:  # what the runtime does after a restore
    hook()
after = db.transport.idle
db.get_item("T", {"PK": "a", "SK": "b"})
print(len(snapshot_restore_py.hooks), before, after)
"""


@pytest.mark.parametrize("init_type", ["snap-start", "on-demand"])
def test_a_snapstart_function_registers_the_restore_hook_once(
    init_type: str, server: TinyServer, tmp_path: Path
) -> None:
    (tmp_path / "snapshot_restore_py.py").write_text(
        "hooks = []\ndef register_after_restore(hook, *args, **kwargs):\n    hooks.append(hook)\n"
    )
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
        AWS_LAMBDA_INITIALIZATION_TYPE=init_type,
        AWS_ACCESS_KEY_ID="SNAPSHOT",
        AWS_SECRET_ACCESS_KEY="secret",
    )
    done = subprocess.run(
        [sys.executable, "-c", _SNAPSTART_CHILD, server.url],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    if init_type == "snap-start":
        assert done.stdout.split() == ["1", "1", "0"]
        assert server.connections == 2
        assert b"Credential=RESTORED/" in server.requests[-1]
    else:  # not a SnapStart function: nothing registered, nothing dropped
        assert done.stdout.split() == ["0", "1", "1"]
        assert server.connections == 1


_COLD_CHILD = """
import json, sys
from dynamore import Client

db = Client(endpoint_url=sys.argv[1])
item = db.get_item(sys.argv[2], {"PK": "cold", "SK": "path"})
print(json.dumps({"item": item, "modules": sorted(sys.modules)}))
"""


def test_cold_path_over_https_imports_only_what_it_needs(
    ddb_endpoint: str, table: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Client(endpoint_url=ddb_endpoint) as db:
        db.put_item(table, {"PK": "cold", "SK": "path", "n": 1})
    clear_proxy_env(monkeypatch)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with TLSProxy(ddb_endpoint) as proxy:
        env.update(
            proxy.environ(),
            AWS_ACCESS_KEY_ID="AKID",
            AWS_SECRET_ACCESS_KEY="secret",
            AWS_SESSION_TOKEN="token",
            AWS_REGION="us-east-1",
            AWS_CONFIG_FILE=str(tmp_path / "none"),
            PYTHONPATH=str(ROOT),
        )
        # -S: no site-packages, so no .pth file (the editable install's finder imports
        # pathlib) muddles the list; botocore could not even be imported.
        done = subprocess.run(
            [sys.executable, "-S", "-c", _COLD_CHILD, proxy.url, table],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["item"] == {"PK": "cold", "SK": "path", "n": 1}
    assert avoided(report["modules"]) == []
    assert "_ssl" in report["modules"]  # it did go through TLS
