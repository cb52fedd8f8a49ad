"""Splitting an input file into parts: every line owned by exactly one part, in order, whatever
the line endings, blank lines, multi-byte characters, missing final newline, or lines longer
than a part; no part reads from before its own range except the one byte that tells where its
first line starts."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamore.exceptions import ValidationError
from dynamore.loader._parts import Part, part_lines, split


def whole_file_lines(data: bytes) -> list[tuple[int, bytes]]:
    """The oracle: every line of ``data`` with its offset, read front to back."""
    lines = []
    offset = 0
    for line in io.BytesIO(data):
        lines.append((offset, line))
        offset += len(line)
    return lines


def all_parts(data: bytes, count: int) -> list[list[tuple[int, bytes]]]:
    stream = io.BytesIO(data)
    return [list(part_lines(stream, part)) for part in split(len(data), count)]


LINE = st.one_of(
    st.just(""),
    st.just("   "),
    st.text(alphabet='ab{}":,1 é€𝄞\r', max_size=12),
    st.text(alphabet="xyz", min_size=40, max_size=200),  # longer than most parts
)


@settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(LINE, max_size=30),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    count=st.integers(min_value=1, max_value=64),
)
def test_every_line_is_owned_by_exactly_one_part_in_order(
    lines: list[str], crlf: bool, final_newline: bool, count: int
) -> None:
    ending = "\r\n" if crlf else "\n"
    text = ending.join(lines) + (ending if final_newline and lines else "")
    data = text.encode("utf-8")
    parts = all_parts(data, count)
    assert [line for part in parts for line in part] == whole_file_lines(data)


def test_a_line_longer_than_several_parts_belongs_to_the_part_it_starts_in() -> None:
    data = b"short\n" + b"x" * 100 + b"\nend\n"
    parts = all_parts(data, 10)
    owners = {line: i for i, part in enumerate(parts) for _, line in part}
    assert owners == {b"short\n": 0, b"x" * 100 + b"\n": 0, b"end\n": 9}
    assert [len(p) for p in parts].count(0) == 8


def test_a_part_starting_right_after_a_newline_owns_the_line_starting_there() -> None:
    data = b"abc\ndef\n"
    assert split(8, 2)[1] == Part(1, 2, 4, 8)
    assert all_parts(data, 2) == [[(0, b"abc\n")], [(4, b"def\n")]]


def test_a_part_reads_nothing_before_the_byte_ahead_of_its_range() -> None:
    class Recording(io.BytesIO):
        lowest = None

        def seek(self, pos: int, whence: int = 0) -> int:
            if self.lowest is None or pos < self.lowest:
                self.lowest = pos
            return super().seek(pos, whence)

    data = b"".join(b"line %d\n" % i for i in range(100))
    for part in split(len(data), 7)[1:]:
        stream = Recording(data)
        list(part_lines(stream, part))
        assert stream.lowest == part.start - 1


def test_skip_resumes_a_part_after_its_first_lines() -> None:
    data = b"".join(b"%d\n" % i for i in range(50))
    part = split(len(data), 3)[1]
    owned = list(part_lines(io.BytesIO(data), part))
    assert list(part_lines(io.BytesIO(data), part, skip=4)) == owned[4:]


def test_an_empty_file_and_more_parts_than_bytes() -> None:
    assert all_parts(b"", 3) == [[], [], []]
    assert [line for part in all_parts(b"a\nb", 64) for line in part] == [(0, b"a\n"), (2, b"b")]


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "2"])
def test_a_part_count_that_is_not_a_positive_integer_is_refused(count: object) -> None:
    with pytest.raises(ValidationError, match="parts: must be a positive integer"):
        split(10, count)  # type: ignore[arg-type]
