"""Running PostgreSQL's own programs as the `postgres` user (it refuses to run as root), for the local
failover cluster (ops/pg_ha.py) and the point-in-time recovery server (ops/pitr.py), issue 24."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

RUN_AS = "postgres"


class NotReachable(Exception):
    """The postgres user cannot reach a directory; the message says which ancestor to open."""


def postgres_ids() -> tuple[int, int]:
    """(uid, gid) of the postgres user."""
    try:
        user = pwd.getpwnam(RUN_AS)
    except KeyError:
        raise NotReachable("there is no postgres user: install PostgreSQL 15 (apt-get install postgresql)") from None
    return user.pw_uid, user.pw_gid


def give_to_postgres(*directories: Path) -> None:
    """Creates each directory (private, owned by postgres) after checking that postgres can reach it."""
    uid, gid = postgres_ids()
    for directory in directories:
        _check_reachable(directory.resolve().parent, uid)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chown(directory, uid, gid)


def _check_reachable(folder: Path, uid: int) -> None:
    for ancestor in (folder, *folder.parents):
        if not ancestor.exists():
            continue
        info = ancestor.stat()
        if info.st_uid != uid and not info.st_mode & stat.S_IXOTH:
            raise NotReachable(
                f"the postgres user cannot reach {folder}: {ancestor} is not searchable by others"
                " (chmod o+x it, or choose another --dir)"
            )
