"""Local stand-ins keep what they "send" in a JSON file, so tests in another process can read it. A
file lock serialises the processes that share one file."""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSON-lines file (none if it does not exist yet)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_once(path: Path, key: str, record: dict[str, Any]) -> bool:
    """Appends the record unless one with the same `key` field value is there; True if appended."""
    with locked(path):
        if any(existing.get(key) == record[key] for existing in read_lines(path)):
            return False
        with open(path, "a") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return True


def read_document(path: Path, empty: dict[str, Any]) -> dict[str, Any]:
    if not path.exists():
        return empty
    loaded: dict[str, Any] = json.loads(path.read_text() or "{}")
    return {**empty, **loaded}


def write_document(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(document, ensure_ascii=False, indent=1))
    temporary.replace(path)
