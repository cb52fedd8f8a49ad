"""What the loader's command-line tests share: the entity type they load (importable by
subprocesses as ``tests.loader_kit:Person``), JSON Lines inputs with bad lines of every kind,
the command line, and readers of what a load left behind."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dynamore.entity import Entity
from tests.kit import as_python, stored

ENTITY = "tests.loader_kit:Person"


class Person(Entity):
    SCHEMA = {
        "title": "PERSON",
        "type": "object",
        "required": ["id_number", "name"],
        "properties": {
            "id_number": {"type": "string"},
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 0},
            "score": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
    }
    ID_ATTRIBUTE = "id_number"


def row(i: int) -> dict[str, Any]:
    return {"id_number": f"{i:06d}", "name": f"p{i}", "age": i % 80, "score": i / 4, "tags": ["t"]}


BAD_LINES = [
    ('{"id_number": "x", "name": ', "invalid JSON"),
    ('{"id_number": "x", "name": 5}', "name: must be string"),
    ("[1, 2]", "entity data must be a dict"),
    ('{"id_number": "x", "name": "n", "SK": "y"}', "SK: is a key attribute"),
    ('{"id_number": "x", "name": "n", "age": -3}', "age: must be bigger than or equal to 0"),
    ("null", "entity data must be a dict, not NoneType"),  # not a blank line
    # Deeper than any Python's limit (3.13 parses 5,000 levels): too deep, not cut short.
    ("[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
]


def jsonl(n: int, *, every: int = 0) -> tuple[list[str], dict[int, str], dict[str, dict[str, Any]]]:
    """``n`` lines (with "\\n"), every ``every``-th one bad and one blank line: the lines, the
    bad ones as {line number: reason part}, and the valid rows by id."""
    lines: list[str] = []
    bad: dict[int, str] = {}
    valid: dict[str, dict[str, Any]] = {}
    for i in range(n):
        number = i + 1
        if every and i % every == every - 1:
            text, reason = BAD_LINES[len(bad) % len(BAD_LINES)]
            bad[number] = reason
            lines.append(text + "\n")
        elif every and i == 3:
            lines.append("\n")  # blank lines are skipped, not rejected
        else:
            lines.append(json.dumps(row(i)) + "\n")
            valid[row(i)["id_number"]] = row(i)
    return lines, bad, valid


def stored_rows(endpoint: str, table: str) -> dict[str, dict[str, Any]]:
    out = {}
    for sk, item in stored(endpoint, table).items():
        del item["PK"], item["SK"]
        out[sk] = as_python(item)
    return out


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "dynamore", "load", "--entity", ENTITY, *args]


def read_rejects(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
