"""Write sharding's layout (dynamore._shards and Entity.PARTITION_SHARDS), without a server."""

from __future__ import annotations

import collections
import hashlib
import os
import subprocess
import sys
from typing import Any

import pytest

from dynamore._shards import MAX_SHARDS, check_shards, partition_for, partitions, shard_of
from dynamore.entity import LEGACY_SORT_KEY_FORMAT, Entity
from dynamore.exceptions import SchemaError
from tests.kit import PERSON_SCHEMA, ROOT


class Sharded(Entity):
    SCHEMA = PERSON_SCHEMA
    ID_ATTRIBUTE = "id_number"
    PARTITION_SHARDS = 8


def documented_shard(sort_value: str, shards: int) -> int:
    """The formula the layout documents, written out here as another tool would."""
    digest = hashlib.blake2b(sort_value.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


@pytest.mark.parametrize("shards", [1, 2, 7, 8, 256])
def test_the_shard_is_the_documented_hash_of_the_sort_key(shards: int) -> None:
    for sort_value in ("42", "", "é", "🦀 long id " * 50, "#PERSON#7"):
        assert shard_of(sort_value, shards) == documented_shard(sort_value, shards)
        assert partition_for("PERSON", sort_value, shards) == (
            f"PERSON#{documented_shard(sort_value, shards)}"
        )


def test_the_shard_does_not_change_with_the_process_hash_seed() -> None:
    # Python's hash() of a str changes per process: a layout on it would lose items.
    code = "from dynamore._shards import shard_of; print([shard_of(str(i), 8) for i in range(64)])"
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "random")
    }
    assert runs == {f"{[shard_of(str(i), 8) for i in range(64)]}\n"}


@pytest.mark.parametrize("pattern", ["{i}", "{i:012d}", "user-{i}", "2026-11-30T{i:08d}"])
def test_ever_increasing_ids_spread_within_ten_percent(pattern: str) -> None:
    counts = collections.Counter(shard_of(pattern.format(i=i), 8) for i in range(50_000))
    mean = 50_000 / 8
    assert sorted(counts) == list(range(8))
    assert all(abs(n - mean) <= 0.1 * mean for n in counts.values()), counts


def test_partitions_lists_every_shard_or_the_one_partition() -> None:
    assert partitions("PERSON", None) == ("PERSON",)
    assert partitions("PERSON", 3) == ("PERSON#0", "PERSON#1", "PERSON#2")
    assert Sharded.partitions() == tuple(f"PERSON#{n}" for n in range(8))


def test_a_sharded_entity_keys_each_item_under_its_shard() -> None:
    for id_number in ("1", "2", "123456", "ü"):
        key = Sharded.key_for({"id_number": id_number})
        assert key == {"PK": f"PERSON#{documented_shard(id_number, 8)}", "SK": id_number}
        data = {"name": "n", "age": 1, "gender": "male", "id_number": id_number}
        assert Sharded(data).identity() == key


def test_the_shard_follows_the_stored_sort_key_and_partition_value() -> None:
    class Legacy(Sharded):
        SORT_KEY_FORMAT = LEGACY_SORT_KEY_FORMAT

    class Elsewhere(Sharded):
        @classmethod
        def partition_value(cls) -> str:
            return "PEOPLE"

    assert Legacy.key_for({"id_number": "7"}) == {
        "PK": f"PERSON#{documented_shard('#PERSON#7', 8)}",
        "SK": "#PERSON#7",
    }
    assert Elsewhere.key_for({"id_number": "7"})["PK"] == f"PEOPLE#{documented_shard('7', 8)}"
    assert Elsewhere.partitions()[0] == "PEOPLE#0"


def test_an_unsharded_entity_keeps_the_0_1_layout() -> None:
    class Plain(Entity):
        SCHEMA = PERSON_SCHEMA
        ID_ATTRIBUTE = "id_number"

    assert Plain.key_for({"id_number": "7"}) == {"PK": "PERSON", "SK": "7"}
    assert Plain.partitions() == ("PERSON",)


@pytest.mark.parametrize("bad", [0, -1, MAX_SHARDS + 1, True, 2.0, "4", [8]])
def test_a_bad_shard_count_is_refused_when_the_class_is_made(bad: Any) -> None:
    with pytest.raises(SchemaError, match="PARTITION_SHARDS"):

        class Bad(Entity):
            SCHEMA = PERSON_SCHEMA
            ID_ATTRIBUTE = "id_number"
            PARTITION_SHARDS = bad

    with pytest.raises(SchemaError, match="PARTITION_SHARDS"):
        check_shards(bad, "Bad")
    assert check_shards(None, "Fine") is None and check_shards(MAX_SHARDS, "Fine") == MAX_SHARDS
