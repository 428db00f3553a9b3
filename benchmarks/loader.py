"""Creates the benchmark databases and bulk-loads the synthetic population.

The loader runs as a few worker processes (python -m benchmarks.loader --start A --stop B ...), each
COPYing its own range of people over its own connection: generating rows in Python is the expensive
part, so it gets the machine's cores, and PostgreSQL ingests while the other worker generates. The
indexes and keys of the loaded tables are dropped first and rebuilt afterwards (a sorted build is far
cheaper than 10 million random B-tree inserts), then the tables are vacuumed and analysed so that
autovacuum does not start on them in the middle of a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from benchmarks import dataset
from benchmarks.processes import Children
from ops.setup import load_demo_data
from services.common.db import create_pool
from services.common.migrations import drop_database, ensure_database, migrate_database
from services.common.settings import Settings
from services.registration.unit_of_work import RegistrationUnitOfWork

LOADED_TABLES = ("enrollments", "enrollment_years", "enrollment_check_index")
# Rebuilt biggest first, so that the two connections finish at about the same time.
_BUILD_ORDER = ("enrollment_years", "enrollment_check_index", "enrollments")
REBUILD_CONNECTIONS = 2
VERIFY_SAMPLE = 300


@dataclass(frozen=True)
class Statement:
    table: str
    sql: str


@dataclass
class Schema:
    """What was dropped before the load, as the statements that put it back."""

    keys_and_indexes: list[Statement] = field(default_factory=list)
    foreign_keys: list[Statement] = field(default_factory=list)


async def settle(dsn: str) -> float:
    """Measures steady-state serving, not the aftermath of a bulk load: a CHECKPOINT flushes what the
    load left dirty (otherwise flushed in the middle of the phases), and pg_prewarm reads the check
    table and its primary key into the OS page cache, where a server that has been answering for a
    while would have them (10 million documents take about 5 GB; the machine has 24 GB)."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CHECKPOINT")
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        for relation in ("enrollment_check_index", "enrollment_check_index_pkey"):
            await conn.execute("SELECT pg_prewarm($1::regclass, 'read')", relation)
    finally:
        await conn.close()
    return round(time.perf_counter() - started, 1)


async def create_databases(settings: Settings) -> None:
    """Fresh, migrated databases with the demo regions and policies."""
    for agency, name in (("insurance", settings.insurance_db), ("tax", settings.tax_db)):
        await drop_database(settings.admin_dsn, name)
        await ensure_database(settings.admin_dsn, name)
        await migrate_database(settings.dsn(name), agency)
    await load_demo_data(settings)


async def drop_databases(settings: Settings) -> None:
    for name in (settings.insurance_db, settings.tax_db):
        await drop_database(settings.admin_dsn, name)


async def load_population(
    children: Children, settings: Settings, rows: int, workers: int, chunk: int, *, first: int = 0
) -> dict[str, Any]:
    """Loads persons first..rows-1 and returns the counts and the time of each step, in seconds. With
    `first` > 0 the database already holds persons 0..first-1 (a population grown, not loaded twice):
    the keys and indexes are dropped and rebuilt over all the rows, as for a load from empty."""
    if rows > dataset.CAPACITY:
        raise ValueError(f"at most {dataset.CAPACITY} rows can be generated")
    started = time.perf_counter_ns()
    conn = await asyncpg.connect(settings.insurance_dsn)
    try:
        schema = await drop_keys_and_indexes(conn)
    finally:
        await conn.close()
    copy_started = time.perf_counter_ns()
    counts = await _run_workers(children, settings.insurance_dsn, first, rows, workers, chunk)
    build_started = time.perf_counter_ns()
    # A grown population's foreign keys come back NOT VALID: the rows were validated when loaded and
    # the new ones are made by the same generator; scanning all of them again is a sixth of the rebuild.
    await rebuild(settings.insurance_dsn, schema, _BUILD_ORDER, validate=first == 0)
    vacuum_started = time.perf_counter_ns()
    await vacuum_analyze(settings.insurance_dsn, _BUILD_ORDER)
    finished = time.perf_counter_ns()
    return {
        "first": first,
        "rows": rows,
        "workers": workers,
        "chunk": chunk,
        **counts,
        "copy_seconds": _seconds(build_started - copy_started),
        "index_seconds": _seconds(vacuum_started - build_started),
        "vacuum_analyze_seconds": _seconds(finished - vacuum_started),
        "total_seconds": _seconds(finished - started),
    }


async def rebuild(dsn: str, schema: Schema, biggest_first: Sequence[str], *, validate: bool = True) -> None:
    """Puts back what drop_keys_and_indexes dropped: keys and indexes (of the biggest tables first, so
    that the connections finish at about the same time), then the foreign keys that depend on them.
    Without `validate` the foreign keys come back NOT VALID: enforced for every row written from then on,
    the loaded rows (consistent by construction) not scanned."""
    rank = {t: n for n, t in enumerate(biggest_first)}
    await run_in_parallel(dsn, sorted(schema.keys_and_indexes, key=lambda s: rank.get(s.table, len(rank))))
    keys = schema.foreign_keys
    if not validate:
        keys = [k if k.sql.endswith(" NOT VALID") else Statement(k.table, f"{k.sql} NOT VALID") for k in keys]
    await run_in_parallel(dsn, keys)


async def vacuum_analyze(dsn: str, tables: Sequence[str]) -> None:
    await run_in_parallel(dsn, [Statement(t, f"VACUUM (ANALYZE) {t}") for t in tables])


async def drop_keys_and_indexes(conn: asyncpg.Connection, tables: Sequence[str] = LOADED_TABLES) -> Schema:
    """Drops the keys, foreign keys and indexes of `tables` (and foreign keys pointing at them)."""
    tables = list(tables)
    constraints = await conn.fetch(
        """SELECT c.conrelid::regclass::text AS table_name, c.conname, c.contype::text AS kind,
                  pg_get_constraintdef(c.oid) AS definition
           FROM pg_constraint c
           WHERE c.contype IN ('p', 'u', 'f')
             AND (c.conrelid = ANY($1::text[]::regclass[]) OR c.confrelid = ANY($1::text[]::regclass[]))
           ORDER BY c.contype <> 'f', c.conname""",  # foreign keys first: they depend on the keys
        tables,
    )
    indexes = await conn.fetch(
        """SELECT i.indrelid::regclass::text AS table_name, i.indexrelid::regclass::text AS name,
                  pg_get_indexdef(i.indexrelid) AS definition
           FROM pg_index i
           WHERE i.indrelid = ANY($1::text[]::regclass[])
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                             WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))""",
        tables,
    )
    schema = Schema()
    async with conn.transaction():
        for c in constraints:
            await conn.execute(f"ALTER TABLE {c['table_name']} DROP CONSTRAINT {c['conname']}")
            restore = Statement(
                c["table_name"], f"ALTER TABLE {c['table_name']} ADD CONSTRAINT {c['conname']} {c['definition']}"
            )
            (schema.foreign_keys if c["kind"] == "f" else schema.keys_and_indexes).append(restore)
        for i in indexes:
            await conn.execute(f"DROP INDEX {i['name']}")
            schema.keys_and_indexes.append(Statement(i["table_name"], i["definition"]))
    return schema


async def run_in_parallel(dsn: str, statements: Sequence[Statement]) -> None:
    """Runs the statements over a few connections, each taking the next one when it is free."""
    pending = list(statements)

    async def drain() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            # Session settings only: index builds sort in memory rather than in temporary files.
            await conn.execute("SET maintenance_work_mem = '1GB'")
            while pending:
                await conn.execute(pending.pop(0).sql)
        finally:
            await conn.close()

    async with asyncio.TaskGroup() as group:
        for _ in range(min(REBUILD_CONNECTIONS, len(pending))):
            group.create_task(drain())


async def _run_workers(children: Children, dsn: str, first: int, rows: int, workers: int, chunk: int) -> dict[str, Any]:
    bounds = [first + (rows - first) * w // workers for w in range(workers + 1)]
    outputs = await asyncio.gather(
        *(
            children.run(
                f"loader-{w}",
                ["-m", "benchmarks.loader", "--dsn", dsn, "--start", str(a), "--stop", str(b), "--chunk", str(chunk)],
                dict(os.environ),
            )
            for w, (a, b) in enumerate(itertools.pairwise(bounds))
        )
    )
    reports = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    return {
        "enrollments": sum(r["enrollments"] for r in reports),
        "enrollment_years": sum(r["years"] for r in reports),
        "check_documents": sum(r["docs"] for r in reports),
        "distinct_check_documents": max(r["distinct_docs"] for r in reports),
        "worker_generate_seconds": [r["generate_seconds"] for r in reports],
        "worker_copy_seconds": [r["copy_seconds"] for r in reports],
    }


async def verify_documents(dsn: str, rows: int, sample: int = VERIFY_SAMPLE) -> int:
    """Rebuilds the check documents of a sample of loaded people with the registration service's own
    the check projection, inside a transaction that is rolled back, and fails unless every rebuilt
    document equals the loaded one: the read model is exactly what the service would have written."""
    numbers = sorted({dataset.person_number(random.randrange(rows)) for _ in range(sample)})
    read = "SELECT resident_id_number, doc FROM enrollment_check_index WHERE resident_id_number = ANY($1::text[])"
    pool = await create_pool(dsn, min_size=1, max_size=1, attempts=3)
    try:
        async with RegistrationUnitOfWork(pool) as uow:  # never committed: rolled back on exit
            loaded = {r[0]: r[1] for r in await uow.conn.fetch(read, numbers)}
            await uow.projection.refresh(numbers, dt.datetime.now(dt.UTC))
            rebuilt = {r[0]: r[1] for r in await uow.conn.fetch(read, numbers)}
    finally:
        await pool.close()
    for number in numbers:
        if loaded.get(number) != rebuilt.get(number):
            raise AssertionError(
                f"loaded check document of {number} differs from the check projection:\n"
                f"loaded:  {loaded.get(number)}\nrebuilt: {rebuilt.get(number)}"
            )
    return len(numbers)


async def loaded_rows(dsn: str) -> int:
    """How many people a reused database holds: the loaded ones are exactly persons 0..n-1, so n is
    found by an exponential then binary search on whether person i has a check document."""
    conn = await asyncpg.connect(dsn)
    try:

        async def present(i: int) -> bool:
            found = await conn.fetchval(
                "SELECT 1 FROM enrollment_check_index WHERE resident_id_number = $1", dataset.person_number(i)
            )
            return found is not None

        if not await present(0):
            return 0
        high = 1
        while high < dataset.CAPACITY and await present(high):
            high *= 2
        low = high // 2  # present(low) holds, present(high) does not (or high is past capacity)
        high = min(high, dataset.CAPACITY)
        while high - low > 1:
            middle = (low + high) // 2
            if await present(middle):
                low = middle
            else:
                high = middle
        return high
    finally:
        await conn.close()


# -- the worker process ------------------------------------------------------------------------------


# A person's document depends on their profile alone and there are a few hundred profiles: each distinct
# document is sent and parsed into jsonb once per worker, and every person's row copies the parsed value
# (PostgreSQL's jsonb input was three quarters of the documents' COPY, and that over half of the load's).
_DISTINCT_DOCUMENTS = """CREATE TEMP TABLE distinct_documents (k int PRIMARY KEY, doc jsonb NOT NULL);
CREATE TEMP TABLE people_documents (resident_id_number text NOT NULL, k int NOT NULL)"""
_DOCUMENTS_OF_PEOPLE = """INSERT INTO enrollment_check_index (resident_id_number, doc, updated_at)
SELECT p.resident_id_number, d.doc, $1 FROM people_documents p JOIN distinct_documents d USING (k)"""


async def _load_range(dsn: str, start: int, stop: int, chunk: int) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    generate_ns = copy_ns = 0
    counts = {"enrollments": 0, "years": 0, "docs": 0}
    keys: dict[str, int] = {}
    try:
        # Each COPY commits on its own; nobody waits for these commits to reach the disk.
        await conn.execute("SET synchronous_commit TO off")
        await conn.execute(_DISTINCT_DOCUMENTS)
        loaded_at = dt.datetime.now(dt.UTC)
        for first in range(start, stop, chunk):
            t0 = time.perf_counter_ns()
            batch = dataset.records(first, min(first + chunk, stop), loaded_at)
            new: list[tuple[int, str]] = []
            people: list[tuple[str, int]] = []
            for number, doc, _ in batch.docs:
                k = keys.get(doc)
                if k is None:
                    k = keys[doc] = len(keys)
                    new.append((k, doc))
                people.append((number, k))
            t1 = time.perf_counter_ns()
            await conn.copy_records_to_table(
                "enrollments", records=batch.enrollments, columns=dataset.ENROLLMENT_COLUMNS
            )
            await conn.copy_records_to_table("enrollment_years", records=batch.years, columns=dataset.YEAR_COLUMNS)
            if new:
                await conn.copy_records_to_table("distinct_documents", records=new)
            await conn.execute("TRUNCATE people_documents")
            await conn.copy_records_to_table("people_documents", records=people)
            await conn.execute(_DOCUMENTS_OF_PEOPLE, loaded_at)
            generate_ns += t1 - t0
            copy_ns += time.perf_counter_ns() - t1
            counts["enrollments"] += len(batch.enrollments)
            counts["years"] += len(batch.years)
            counts["docs"] += len(batch.docs)
    finally:
        await conn.close()
    return {
        **counts,
        "distinct_docs": len(keys),
        "generate_seconds": _seconds(generate_ns),
        "copy_seconds": _seconds(copy_ns),
    }


def _seconds(ns: int) -> float:
    return round(ns / 1e9, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description="Loads persons start..stop-1 (a loader worker).")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--stop", type=int, required=True)
    parser.add_argument("--chunk", type=int, default=20_000)
    args = parser.parse_args()
    report = asyncio.run(_load_range(args.dsn, args.start, args.stop, args.chunk))
    print(json.dumps(report))  # noqa: T201 - the parent reads this line


if __name__ == "__main__":
    main()
