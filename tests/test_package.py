"""The package surface: exports, py.typed, and a Lambda-style cold path that never imports
boto3, botocore or urllib3 when credentials come from the environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import dynamore
from dynamore import exceptions
from tests.kit import ROOT, avoided


def test_exports_and_version() -> None:
    assert dynamore.__version__ == metadata.version("dynamore")
    assert {"Client", "Credentials", "Page"} <= set(dynamore.__all__)
    assert (Path(dynamore.__file__).parent / "py.typed").exists()


def test_one_exception_tree() -> None:
    for name in exceptions.__all__:
        value = getattr(exceptions, name)
        if isinstance(value, type) and issubclass(value, Exception) and name != "SchemaWarning":
            assert issubclass(value, exceptions.DynamoreError), name
    assert issubclass(exceptions.ValidationError, ValueError)
    assert issubclass(exceptions.UnsupportedTypeError, TypeError)


def test_lambda_cold_path_imports_no_botocore(
    ddb_endpoint: str, table: str, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import dynamore
        from dynamore.dynamodb_proxy import DynamoDbProxy
        from dynamore.entity import Entity

        class Thing(Entity):
            SCHEMA = {{"title": "THING", "properties": {{"id": {{"type": "string"}}}}}}
            ID_ATTRIBUTE = "id"

        client = dynamore.Client()
        db = DynamoDbProxy(table_name={table!r}, client=client)
        db.post(entity_class=Thing, data={{"id": "1"}})
        assert db.get(entity_class=Thing, data={{"id": "1"}}) == {{"id": "1"}}
        assert "NativeTransport" in repr(client.transport)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore", "urllib3")))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="AKID",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_SESSION_TOKEN="token",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        DDB_ENDPOINT=ddb_endpoint,
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_clients_first_request_imports_only_what_it_needs(
    ddb_endpoint: str, table: str, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from dynamore import Client

        client = Client(endpoint_url={ddb_endpoint!r})
        client.put_item({table!r}, {{"PK": "cold", "SK": "path", "n": 1}})
        assert client.get_item({table!r}, {{"PK": "cold", "SK": "path"}})["n"] == 1
        print("\\n".join(sys.modules))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="AKID",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        PYTHONPATH=str(ROOT),
    )
    # -S: no site-packages and none of their .pth hooks (the editable install's finder), so
    # only the imports of the package itself are counted, as in a deployment package.
    done = subprocess.run(
        [sys.executable, "-S", "-c", script], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    modules = done.stdout.split()
    assert "dynamore._client" in modules  # the list is the child's own
    assert avoided(modules) == []


def test_make_test_all_covers_every_python_the_project_promises() -> None:
    makefile = (ROOT / "Makefile").read_text()
    tested = re.search(r"^PYTHONS\s*\?=\s*(.+)$", makefile, re.MULTILINE)
    assert tested is not None, "no PYTHONS list in the Makefile"
    minors = [int(v.split(".")[1]) for v in tested.group(1).split()]
    assert minors == list(range(minors[0], minors[-1] + 1)), "every version between, in order"
    lowest = f"3.{minors[0]}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'requires-python = ">={lowest}"' in pyproject
    assert f'target-version = "py3{minors[0]}"' in pyproject
    assert f"Python {lowest}+" in (ROOT / "README.rst").read_text()
    # AWS Lambda's newest Python when this was written; test-all must reach at least that far.
    assert minors[-1] >= 13
