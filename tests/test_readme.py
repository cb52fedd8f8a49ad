"""README.rst stays true: it is valid reStructuredText, and its quick start is exactly what
``make demo`` runs (dynamore/demo.py)."""

from __future__ import annotations

import re
import textwrap

import docutils.core
import docutils.nodes
import docutils.utils

from tests.kit import ROOT


def _code_blocks(text: str) -> list[str]:
    blocks = []
    for match in re.finditer(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text):
        blocks.append(textwrap.dedent(match.group(1)).strip())
    return blocks


def _normalised(code: str) -> list[str]:
    lines = [line.split("  #")[0].rstrip() for line in textwrap.dedent(code).splitlines()]
    return [line for line in lines if line.strip()]


def test_readme_is_valid_restructuredtext() -> None:
    for name in ("README.rst", "benchmarks/README.rst"):
        doctree = docutils.core.publish_doctree(
            (ROOT / name).read_text(),
            settings_overrides={"report_level": 5, "warning_stream": False},
        )
        problems = [
            node.astext()
            for node in doctree.findall(docutils.nodes.system_message)
            if node["level"] >= docutils.utils.Reporter.WARNING_LEVEL
        ]
        assert problems == [], name


def test_quick_start_is_what_make_demo_runs() -> None:
    readme = (ROOT / "README.rst").read_text()
    quick_start = next(b for b in _code_blocks(readme) if "DynamoDbProxy(table_name" in b)
    demo = (ROOT / "dynamore" / "demo.py").read_text()
    start = demo.rindex("\n", 0, demo.index("# ---- the README quick start, verbatim ----"))
    end = demo.index("# ---- end of the quick start ----")
    assert _normalised(demo[start:end])[1:] == _normalised(quick_start)
