"""Applies plain-SQL migrations in order, each once, under an advisory lock.

Why not yoyo-migrations: it needs a psycopg driver next to asyncpg, and all we need is ~50 lines:
files applied in name order inside a transaction each, recorded with a checksum in
schema_migrations (so an edited, already-applied migration is refused), and a session advisory lock so
two processes starting at once cannot apply the same file twice. Each file has a number of its own in
its folder; a file renumbered after databases applied it is listed in deploy/migrations/renamed.txt, and
a database that applied it under its former name has its record renamed, not the file applied again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger(__name__)

MIGRATIONS_ROOT = Path(__file__).resolve().parents[2] / "deploy" / "migrations"
# Every database gets the platform tables (outbox, inbox, idempotency keys) first.
AGENCY_MIGRATIONS = {
    "insurance": ("platform", "insurance"),
    "tax": ("platform", "tax"),
}
RENAMED_FILE = "renamed.txt"
_LOCK_KEY = 0x6D6564696E73  # "medins"


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_for(agency: str, root: Path = MIGRATIONS_ROOT) -> list[Migration]:
    """The ordered migrations of an agency's database."""
    found = []
    for folder in AGENCY_MIGRATIONS[agency]:
        for path in sorted((root / folder).glob("*.sql")):
            found.append(Migration(f"{folder}/{path.name}", path.read_text()))
    return found


def former_names(root: Path = MIGRATIONS_ROOT) -> dict[str, str]:
    """Each renumbered migration's former name, by its present name (deploy/migrations/renamed.txt)."""
    path = root / RENAMED_FILE
    if not path.exists():
        return {}
    formers = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            former, present = line.split()
            formers[present] = former
    return formers


class MigrationEdited(RuntimeError):
    pass


async def migrate(
    conn: asyncpg.Connection, migrations: list[Migration], formers: dict[str, str] | None = None
) -> list[str]:
    """Applies the migrations not yet applied; returns their names. Re-running is a no-op. A migration
    applied under its former name (`formers`: former name by present name, by default
    deploy/migrations/renamed.txt) is applied already: its record takes the present name."""
    formers = former_names() if formers is None else formers
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        applied = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
        done = []
        for migration in migrations:
            former = formers.get(migration.name)
            if former is not None and migration.name not in applied and former in applied:
                await conn.execute("UPDATE schema_migrations SET name = $1 WHERE name = $2", migration.name, former)
                applied[migration.name] = applied.pop(former)
                log.info("migration_renamed", migration=migration.name, former=former)
            if migration.name in applied:
                if applied[migration.name] != migration.checksum:
                    raise MigrationEdited(f"{migration.name} was changed after it was applied; add a new migration")
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                    migration.name,
                    migration.checksum,
                )
            log.info("migration_applied", migration=migration.name)
            done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def ensure_database(admin_dsn: str, name: str, *, template: str | None = None) -> bool:
    """Creates the database unless it exists; returns True when it was created."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        clause = f" TEMPLATE {_quote_ident(template)}" if template else ""
        try:
            await conn.execute(f"CREATE DATABASE {_quote_ident(name)}{clause}")
        except asyncpg.DuplicateDatabaseError:
            return False
        return True
    finally:
        await conn.close()


async def drop_database(admin_dsn: str, name: str) -> None:
    """Drops the database, disconnecting its sessions first."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()


def _quote_ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name {name!r}")
    return f'"{name}"'


async def migrate_database(dsn: str, agency: str) -> list[str]:
    """Connects to one agency database and migrates it."""
    conn = await asyncpg.connect(dsn)
    try:
        return await migrate(conn, migrations_for(agency))
    finally:
        await conn.close()
