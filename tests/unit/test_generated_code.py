"""The generated code in gen/ matches the protos: regenerating changes nothing."""

from __future__ import annotations

import filecmp
from pathlib import Path

from ops.codegen import GEN_ROOT, generate


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh, current = _files(tmp_path), _files(GEN_ROOT)
    assert fresh == current, f"missing or extra generated files: {sorted(fresh ^ current)}; run `make gen`"
    stale = [str(p) for p in sorted(fresh) if not filecmp.cmp(tmp_path / p, GEN_ROOT / p, shallow=False)]
    assert not stale, f"stale generated files (run `make gen`): {stale}"
