"""docs/REQUIREMENTS.md is the repository's vocabulary: every requirement code the code cites has its
row, and every test the document names exists (issue 20 item 5)."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "REQUIREMENTS.md"
CITING_TREES = ("services", "workers", "ops", "benchmarks", "tests", "deploy")
CITING_SUFFIXES = {".py", ".sql", ".yaml", ".yml", ".json", ".md", ".toml", ".sh"}
# A code (R7, R21b) or a range of plain codes (R5-R8, R21–R23), which cites every code in it.
CITATION = re.compile(r"\bR(\d{1,2})([a-z]?)(?:\s*[-–]\s*R(\d{1,2})\b)?\b")
ROW = re.compile(r"^\|\s*(R\d{1,2}[a-z]?)\s*\|(.*)\|\s*$")
# `tests/…/test_x.py` optionally followed by the names of some of its tests in parentheses.
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)`(?:\s*\(([^)]*)\))?")


def _codes_in(text: str) -> set[str]:
    codes: set[str] = set()
    for first, suffix, last in CITATION.findall(text):
        if last and not suffix:
            codes |= {f"R{n}" for n in range(int(first), int(last) + 1)}
        else:
            codes.add(f"R{first}{suffix}")
    return codes


def _cited_codes() -> dict[str, str]:
    """Each cited code → one file citing it (for the failure message)."""
    cited: dict[str, str] = {}
    # The repository's own files only: a benchmark's raw results or a local log may hold a code by chance.
    tracked = (
        subprocess.run(["git", "ls-files", "-z", *CITING_TREES], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in sorted(t for t in tracked if t):
        path = ROOT / name
        if path.suffix not in CITING_SUFFIXES or not path.is_file():
            continue
        for code in _codes_in(path.read_text(errors="replace")):
            cited.setdefault(code, name)
    return cited


def _rows() -> dict[str, str]:
    rows: dict[str, str] = {}
    for line in DOCUMENT.read_text().splitlines():
        match = ROW.match(line)
        if match:
            assert match[1] not in rows, f"{match[1]} has two rows"
            rows[match[1]] = match[2]
    return rows


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    }


def test_the_citation_pattern_reads_codes_suffixes_and_ranges() -> None:
    assert _codes_in("the window (R4, R21a); rules R5-R7 and R13") == {"R4", "R21a", "R5", "R6", "R7", "R13"}
    assert _codes_in("RSA2, HR12, R2D2") == set()


def test_every_code_the_code_cites_has_its_row() -> None:
    rows = _rows()
    assert len(rows) >= 40, "the table was not parsed"
    missing = {code: where for code, where in _cited_codes().items() if code not in rows}
    assert not missing, f"codes cited but not in docs/REQUIREMENTS.md: {missing}"


def test_every_row_says_what_it_means_and_names_an_existing_test() -> None:
    for code, cells in _rows().items():
        meaning, _, tests = cells.partition("|")
        assert len(meaning.strip()) > 20, f"{code} says nothing"
        references = TEST_REFERENCE.findall(tests)
        assert references, f"{code} names no test"
        for file, names in references:
            path = ROOT / file
            assert path.is_file(), f"{code} names {file}, which does not exist"
            defined = _test_names(path)
            for name in filter(None, (n.strip() for n in names.split(","))):
                assert name in defined, f"{code} names {file}::{name}, which does not exist"
