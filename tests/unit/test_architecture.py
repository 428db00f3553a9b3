"""Dependencies point inward: domain rules import no I/O, transport or logging library."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("grpc", "asyncpg", "aio_pika", "aiormq", "structlog", "medins", "google", "pydantic", "uvloop")
PURE_COMMON = (
    "services/common/errors.py",
    "services/common/money.py",
    "services/common/periods.py",
    "services/common/resident_id.py",
)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _module_path(module: str) -> Path | None:
    candidate = ROOT / Path(*module.split("."))
    if candidate.with_suffix(".py").exists():
        return candidate.with_suffix(".py")
    if (candidate / "__init__.py").exists():
        return candidate / "__init__.py"
    return None


def _transitive(path: Path, seen: set[Path]) -> set[str]:
    if path in seen:
        return set()
    seen.add(path)
    found = set()
    for module in _imports(path):
        found.add(module)
        if module.startswith("services."):
            own = _module_path(module)
            if own is not None:
                found |= _transitive(own, seen)
    return found


def _pure_modules() -> list[Path]:
    return sorted(ROOT.glob("services/*/domain/*.py")) + [ROOT / p for p in PURE_COMMON]


def test_domain_modules_exist() -> None:
    assert len(_pure_modules()) >= 10


def test_domain_modules_import_no_io_or_transport() -> None:
    offenders = {}
    for path in _pure_modules():
        bad = sorted(m for m in _transitive(path, set()) if m.split(".")[0] in FORBIDDEN)
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders, f"domain code must stay pure: {offenders}"
