"""Bulk loading: validate entities and write them concurrently, losing nothing.

>>> from dynamore.loader import load, Checkpoint                   # doctest: +SKIP
>>> report = load(client, "MyTable", Person, rows, workers=8)       # doctest: +SKIP
>>> saved = report.checkpoint.to_dict()            # doctest: +SKIP
>>> load(client, "MyTable", Person, rows, resume=Checkpoint.from_dict(saved))  # doctest: +SKIP

:func:`load` takes a :class:`dynamore.Client` and a table name (``DynamoDbProxy.load`` is a
thin call to it) and returns a :class:`LoadReport`; :class:`Checkpoint` is where a stopped load
resumes; ``on_reject`` sees each :class:`Reject`, ``on_progress`` a :class:`Progress`. An input
yields :data:`IDLE` while it waits; ``parse`` returns :data:`SKIP` for an empty element.
:mod:`dynamore.loader.cli` is the ``dynamore load`` command line. How positions, checkpoints,
create mode and ordering work: :mod:`dynamore.loader._load`.

Layout: ``_load`` (the reader side and :func:`load`), ``_workers`` (the threads that send),
``_checkpoint`` (reports, checkpoints and the ledger that counts in position order), ``_map``
(:func:`map_handler`, a Lambda handler for Step Functions Distributed Map batches), ``_parts``
(splitting a file into line-aligned parts), ``cli``.
"""

from __future__ import annotations

from dynamore.loader._checkpoint import Checkpoint, LoadReport, Progress, Reject
from dynamore.loader._load import (
    DEFAULT_DEADLINE_MARGIN_MS,
    DEFAULT_KEEP,
    DEFAULT_WORKERS,
    IDLE,
    SKIP,
    Mode,
    load,
)
from dynamore.loader._map import map_handler
from dynamore.loader._workers import CREATE, MODES, UPSERT

__all__ = [
    "CREATE",
    "DEFAULT_DEADLINE_MARGIN_MS",
    "DEFAULT_KEEP",
    "DEFAULT_WORKERS",
    "IDLE",
    "MODES",
    "SKIP",
    "UPSERT",
    "Checkpoint",
    "LoadReport",
    "Mode",
    "Progress",
    "Reject",
    "load",
    "map_handler",
]
