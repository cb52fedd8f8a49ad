"""dynamore.testing: the public launcher and the pytest plugin, used as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

from tests import ddb_admin

USER_TESTS = """
import pytest

from dynamore.dynamodb_proxy import DynamoDbProxy
from dynamore.entity import Entity

SEEN = []


class Person(Entity):
    SCHEMA = {"title": "Person", "type": "object",
              "properties": {"id": {"type": "string"}, "gender": {"type": "string"}}}
    ID_ATTRIBUTE = "id"
    INDEXES = {"ByGender": {"partition": ["gender"], "sort": ["id"]}}


@pytest.fixture
def dynamore_entities():
    return [Person]


def test_round_trip(dynamore_table, dynamore_client):
    SEEN.append(dynamore_table)
    described = dynamore_client.describe_table(dynamore_table)
    assert [g["IndexName"] for g in described["GlobalSecondaryIndexes"]] == ["ByGender"]
    db = DynamoDbProxy(table_name=dynamore_table, client=dynamore_client)
    db.post(entity_class=Person, data={"id": "1", "gender": "f"})
    assert db.get(entity_class=Person, data={"id": "1"}) == {"id": "1", "gender": "f"}


def test_fresh_table_each_time(dynamore_table):
    SEEN.append(dynamore_table)
    assert len(set(SEEN)) == len(SEEN)
    print("TABLES", *SEEN)
"""


def test_plugin_is_registered_by_entry_point() -> None:
    found = metadata.entry_points()
    # Python 3.9's importlib.metadata gives a dict of groups; later ones have select().
    group = found.select(group="pytest11") if hasattr(found, "select") else found["pytest11"]
    plugins = {e.name: e.value for e in group}
    assert plugins.get("dynamore") == "dynamore.testing.plugin"


def test_a_users_suite_gets_fresh_tables_and_leaves_none(ddb_endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    before = set(ddb_admin.list_tables(ddb_endpoint))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        env=dict(os.environ, DDB_ENDPOINT=ddb_endpoint),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    tables = result.stdout.split("TABLES", 1)[1].split()[:2]
    assert len(set(tables)) == 2
    assert set(ddb_admin.list_tables(ddb_endpoint)) == before  # both deleted


def test_module_command_line_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dynamore.testing", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "python -m dynamore.testing" in result.stdout
    assert "serve" in result.stdout
