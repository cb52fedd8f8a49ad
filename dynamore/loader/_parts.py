"""Splitting a line-oriented input file into parts that independent workers can load.

A part is a byte range ``[start, end)`` of the file. It owns exactly the lines that *start*
inside its range: a line that began in an earlier range belongs to that range's part, however
far it runs. So the parts of a file own every line exactly once, and a part finds its first line
by looking at one byte before its start and, when that byte is not a newline, skipping the rest
of the line it landed in. No part reads the whole file, and none needs to know how many lines
come before it: line numbers are put together when the parts' reports are merged (a part counts
the lines it owns).

Only ``\\n`` separates lines: a ``\\r`` before it stays in the line for the parser to strip (it
does, like any surrounding whitespace), and a newline byte never occurs inside a multi-byte
UTF-8 character, so splitting bytes never cuts a character.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from dynamore.exceptions import ValidationError

__all__ = ["Part", "part_lines", "split"]


@dataclass(frozen=True)
class Part:
    """Part ``index`` of ``count``: the lines that start in bytes ``[start, end)`` of the file."""

    index: int
    count: int
    start: int
    end: int


def split(size: int, count: int) -> list[Part]:
    """``count`` parts of about equal byte length covering a file of ``size`` bytes.

    >>> [(p.start, p.end) for p in split(10, 3)]
    [(0, 3), (3, 6), (6, 10)]
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValidationError("parts", f"must be a positive integer, got {count!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValidationError("file size", f"must be a non-negative integer, got {size!r}")
    bounds = [size * i // count for i in range(count + 1)]
    return [Part(i, count, bounds[i], bounds[i + 1]) for i in range(count)]


def part_lines(stream: IO[bytes], part: Part, *, skip: int = 0) -> Iterator[tuple[int, bytes]]:
    """The lines ``part`` owns, as ``(offset, line)`` with the line's terminator kept.

    ``stream`` is a binary file open for reading (seekable); ``skip`` leaves out the first
    ``skip`` owned lines (a resumed part), which are still read past but not yielded.
    """
    position = part.start
    if position > 0:
        stream.seek(position - 1)
        if stream.read(1) != b"\n":
            # We landed inside a line that started in an earlier part: it is not ours.
            position += len(stream.readline())
    else:
        stream.seek(0)
    owned = 0
    while position < part.end:
        line = stream.readline()
        if not line:
            return
        if owned >= skip:
            yield position, line
        owned += 1
        position += len(line)
