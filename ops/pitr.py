"""Backup and point-in-time recovery of the agencies' PostgreSQL on this machine (issue 24).

python -m ops.pitr start       a PostgreSQL 15 server of its own (--dir, .make/pitr; --port, 5470) with
                               every WAL segment archived, holding both agencies' databases
python -m ops.pitr backup      a base backup (pg_basebackup), kept beside the archive
python -m ops.pitr restore --to TIME    the server as it was at TIME (the latest base backup before it,
                               then the archived WAL replayed up to TIME), promoted; the data it
                               replaces is kept aside
python -m ops.pitr stop

`medins restore --to TIME` restores through this and then makes the system converge again (ops/cli/
restore.py). Both agencies' databases live in this one server here, so one recovery puts both at the
same instant; in production each agency has its own CloudNativePG cluster, each recovered to the same
TIME from its own object store (docs/DEPLOY.md), and the converge step is the same.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ops.postgres_user import NotReachable, give_to_postgres, postgres_ids
from services.common.clock import CST

DEFAULT_DIR = Path(".make/pitr")
DEFAULT_PORT = 5470
PG_BIN = Path("/usr/lib/postgresql/15/bin")

Progress = Callable[[str], None]


class PitrError(Exception):
    """Something the operator can act on; printed as one message, without a traceback."""


def _say(message: str) -> None:
    print(f"pitr: {message}", flush=True)  # noqa: T201 - progress of a long command


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 instant; without an offset it is China Standard Time (R4)."""
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        raise PitrError(f"not an ISO 8601 time: {text!r} (e.g. 2026-12-03T14:00:00+08:00)") from None
    return instant if instant.tzinfo else instant.replace(tzinfo=CST)


@dataclass(frozen=True)
class Instance:
    """One PostgreSQL server with continuous WAL archiving and base backups, under `directory`."""

    directory: Path
    port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        # Absolute: PostgreSQL's programs run in other working directories.
        object.__setattr__(self, "directory", self.directory.resolve())

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def archive(self) -> Path:
        return self.directory / "wal-archive"

    @property
    def backups(self) -> Path:
        return self.directory / "base-backups"

    @property
    def log(self) -> Path:
        return self.directory / "postgresql.log"

    def _as_postgres(self, *command: str, check: bool = True, timeout: float = 600) -> str:
        uid, gid = postgres_ids()
        done = subprocess.run(
            command,
            user=uid,
            group=gid,
            extra_groups=[],
            cwd=self.directory,
            env={"PATH": f"{PG_BIN}:/usr/bin:/bin", "LANG": "C.UTF-8", "PGTZ": "Asia/Shanghai"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise PitrError(f"{' '.join(command[:2])} failed: {(done.stderr or done.stdout).strip()[-800:]}")
        return done.stdout

    def sql(self, statement: str) -> str:
        return self._as_postgres(
            str(PG_BIN / "psql"), "-X", "-At", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-d", "postgres", "-c", statement,
        ).strip()  # fmt: skip

    def running(self) -> bool:
        status = self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status", check=False)
        return "server is running" in status

    def _prepare(self) -> None:
        try:
            give_to_postgres(self.directory, self.archive, self.backups)
        except NotReachable as error:
            raise PitrError(str(error)) from None

    def _settings(self) -> str:
        return (
            f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
            f"unix_socket_directories = '{self.directory.resolve()}'\n"
            "wal_level = replica\narchive_mode = on\n"
            f"archive_command = 'test ! -f {self.archive.resolve()}/%f && cp %p {self.archive.resolve()}/%f'\n"
            "max_connections = 200\nshared_buffers = 64MB\ntimezone = 'Asia/Shanghai'\n"
        )

    def start(self, say: Progress = _say) -> None:
        """Creates the server on first use, then starts it (a running one is left as it is)."""
        if shutil.which(str(PG_BIN / "initdb")) is None:
            raise PitrError(f"PostgreSQL 15 is not installed in {PG_BIN}")
        self._prepare()
        if not (self.data / "PG_VERSION").exists():
            self._as_postgres(
                str(PG_BIN / "initdb"), "-D", str(self.data.resolve()), "-U", "postgres", "--auth=trust",
                "--encoding=UTF8", "--locale=C.UTF-8", "--data-checksums",
            )  # fmt: skip
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(self._settings())
            say(f"created a server in {self.data} archiving WAL to {self.archive}")
        if not self.running():
            self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "start")
        say(f"running on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.running():
            self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def backup(self, say: Progress = _say) -> Path:
        """A base backup, named by its start time; returns its folder."""
        started = dt.datetime.now(CST)
        target = self.backups / started.strftime("%Y%m%dT%H%M%S.%f%z")
        self._as_postgres(
            str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-D", str(target.resolve()), "--checkpoint=fast", "--wal-method=stream",
        )  # fmt: skip
        say(f"base backup {target.name} taken")
        return target

    def _backup_before(self, instant: dt.datetime) -> Path:
        """The latest base backup that ended before `instant` (its start time is in its name; one that
        started before the instant may still have been running then, so only earlier ones are safe)."""
        kept = []
        for folder in self.backups.iterdir():
            started = dt.datetime.strptime(folder.name, "%Y%m%dT%H%M%S.%f%z")
            ended = dt.datetime.fromtimestamp((folder / "backup_manifest").stat().st_mtime, CST)
            if ended < instant:
                kept.append((started, folder))
        if not kept:
            raise PitrError(f"no base backup finished before {instant.isoformat()}: cannot restore to it")
        return max(kept)[1]

    def archive_current_wal(self, timeout: float = 60) -> None:
        """Closes the WAL segment being written and waits until it is archived, so a restore can reach
        everything committed until now (a server lost outright loses what was not archived yet)."""
        segment = self.sql("SELECT pg_walfile_name(pg_switch_wal())")
        deadline = time.monotonic() + timeout
        while not (self.archive / segment).exists():
            if time.monotonic() > deadline:
                raise PitrError(f"WAL segment {segment} was not archived within {timeout:.0f} s (see {self.log})")
            time.sleep(0.2)

    def restore(self, instant: dt.datetime, say: Progress = _say) -> Path:
        """The server as it was at `instant`, promoted and running; returns where the replaced data went."""
        if self.running():
            self.archive_current_wal()
            self.stop()
        backup = self._backup_before(instant)
        aside = self.directory / f"data-before-restore-{dt.datetime.now(CST):%Y%m%dT%H%M%S}"
        self.data.rename(aside)
        shutil.copytree(backup, self.data, symlinks=True)
        uid, gid = postgres_ids()
        for root, _, files in os.walk(self.data):
            os.chown(root, uid, gid)
            for name in files:
                os.chown(Path(root) / name, uid, gid)
        self.data.chmod(0o700)
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                f"restore_command = 'cp {self.archive.resolve()}/%f %p'\n"
                f"recovery_target_time = '{instant.isoformat()}'\n"
                "recovery_target_action = 'promote'\n"
            )
        (self.data / "recovery.signal").touch()
        os.chown(self.data / "recovery.signal", uid, gid)
        say(f"replaying WAL from base backup {backup.name} up to {instant.isoformat()}")
        self._recover(instant, say)
        say(f"restored to {instant.isoformat()} and promoted; the data it replaced is in {aside}")
        return aside

    def _recover(self, instant: dt.datetime, say: Progress) -> None:
        """Starts the server in recovery and waits until it has promoted itself at the target."""
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "300", "start")
        deadline = time.monotonic() + 300
        while True:
            try:
                if self.sql("SELECT pg_is_in_recovery()") == "f":
                    return
            except PitrError:
                if self.running():
                    raise
                fatal = [line for line in self.log.read_text(errors="replace").splitlines() if "FATAL" in line]
                if not (fatal and "before configured recovery target was reached" in fatal[-1]):
                    raise PitrError(
                        f"recovery failed: {fatal[-1] if fatal else 'the server stopped'} (see {self.log})"
                    ) from None
                # Nothing archived was committed after the instant: the end of the archive is its state.
                settings = self.data / "postgresql.auto.conf"
                kept = [line for line in settings.read_text().splitlines() if "recovery_target_time" not in line]
                settings.write_text("\n".join(kept) + "\n")
                say(f"nothing archived was committed after {instant.isoformat()}: replaying the whole archive")
                self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "start")
            if time.monotonic() > deadline:
                raise PitrError(f"recovery to {instant.isoformat()} did not finish within 300 s (see {self.log})")
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("start", "stop", "backup", "restore"))
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--to", help="restore: the instant, ISO 8601 (China Standard Time without an offset)")
    args = parser.parse_args(argv)
    instance = Instance(args.dir, args.port)
    try:
        if args.command == "start":
            instance.start()
            _say(f"point the system at it: MEDINS_PG_HOST=127.0.0.1 MEDINS_PG_PORT={args.port}")
        elif args.command == "stop":
            instance.stop()
        elif args.command == "backup":
            instance.backup()
        else:
            if not args.to:
                raise PitrError("restore needs --to TIME")
            instance.restore(parse_instant(args.to))
    except PitrError as error:
        sys.exit(f"pitr: {error}")


if __name__ == "__main__":
    main()
