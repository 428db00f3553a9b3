"""What a payment costs the write-ahead log, counted record by record (issue 23 item 2): rows inserted,
updated (HOT or not), locked and deleted, index entries written, and bytes, per table of the database,
between two WAL positions.

The WAL is the one place every durable effect passes through, so counting its records says exactly how
many rows and index entries a payment writes; `pg_walinspect` (PostgreSQL's contrib, superuser) reads
them. The log is the whole cluster's: records are kept only where their first block belongs to the
measured database, so other work on the machine does not count. Commit records carry no block and are
counted apart (`commits`: every database's, an upper bound on ours)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg

# A record's first block: "blkref #0: rel <tablespace>/<database>/<filenode> fork main blk <n>".
_BLOCK = re.compile(r"rel \d+/(\d+)/(\d+) fork (\w+)")

# What a record does to a table or an index, by (resource manager, record type). Types not listed
# (vacuum's and the free-space map's bookkeeping, page splits' second halves, ...) count under "other".
_KINDS = {
    ("Heap", "INSERT"): "rows_inserted",
    ("Heap", "INSERT+INIT"): "rows_inserted",
    ("Heap2", "MULTI_INSERT"): "rows_inserted",
    ("Heap2", "MULTI_INSERT+INIT"): "rows_inserted",
    ("Heap", "UPDATE"): "rows_updated",
    ("Heap", "UPDATE+INIT"): "rows_updated",
    ("Heap", "HOT_UPDATE"): "rows_hot_updated",
    ("Heap", "HOT_UPDATE+INIT"): "rows_hot_updated",
    ("Heap", "DELETE"): "rows_deleted",
    ("Heap", "LOCK"): "rows_locked",
    ("Btree", "INSERT_LEAF"): "index_entries",
    ("Btree", "INSERT_POST"): "index_entries",
}

_RECORDS = """
SELECT resource_manager, record_type, record_length, fpi_length, block_ref
FROM pg_get_wal_records_info($1::text::pg_lsn, $2::text::pg_lsn)"""

_RELATIONS = """
SELECT pg_relation_filenode(c.oid) AS filenode, c.relname, c.relkind,
       COALESCE(t.relname, c.relname) AS table_name
FROM pg_class c
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_class t ON t.oid = i.indrelid
WHERE pg_relation_filenode(c.oid) IS NOT NULL"""


@dataclass
class TableCost:
    """One table's records, its indexes' included."""

    counts: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    fpi_bytes: int = 0


@dataclass
class Footprint:
    tables: dict[str, TableCost]
    commits: int
    other_bytes: int  # records of no block (commits, ...) in every database

    def per(self, payments: int) -> dict[str, Any]:
        """Per payment: each table's counts and bytes, and the totals."""
        n = max(payments, 1)
        tables = {
            name: {kind: round(count / n, 2) for kind, count in sorted(cost.counts.items())}
            | {"wal_bytes": round(cost.bytes / n), "fpi_bytes": round(cost.fpi_bytes / n)}
            for name, cost in sorted(self.tables.items())
        }
        totals: Counter[str] = Counter()
        for cost in self.tables.values():
            totals.update(cost.counts)
        ours = sum(cost.bytes for cost in self.tables.values())
        fpi = sum(cost.fpi_bytes for cost in self.tables.values())
        return {
            "payments": payments,
            "rows_written": round(
                (totals["rows_inserted"] + totals["rows_updated"] + totals["rows_hot_updated"] + totals["rows_deleted"])
                / n,
                2,
            ),
            "rows_locked": round(totals["rows_locked"] / n, 2),
            "index_entries": round(totals["index_entries"] / n, 2),
            "wal_bytes": round(ours / n),
            "fpi_bytes": round(fpi / n),
            "commits": round(self.commits / n, 2),
            "tables": tables,
        }


async def wal_position(conn: asyncpg.Connection) -> str:
    return str(await conn.fetchval("SELECT pg_current_wal_lsn()::text"))


async def available(conn: asyncpg.Connection) -> bool:
    """Whether pg_walinspect can be used here (created when missing; needs PostgreSQL 15 and contrib)."""
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
    except asyncpg.PostgresError:
        return False
    return True


async def footprint(conn: asyncpg.Connection, start: str, end: str) -> Footprint:
    """The records between `start` and `end` whose first block is in `conn`'s database, by table."""
    database = str(await conn.fetchval("SELECT oid FROM pg_database WHERE datname = current_database()"))
    names = {str(r["filenode"]): (r["table_name"], r["relkind"]) for r in await conn.fetch(_RELATIONS)}
    tables: dict[str, TableCost] = {}
    commits = other = 0
    for r in await conn.fetch(_RECORDS, start, end):
        size = r["record_length"]
        block = _BLOCK.search(r["block_ref"] or "")
        if block is None:
            other += size
            commits += r["resource_manager"] == "Transaction" and r["record_type"].startswith("COMMIT")
            continue
        if block.group(1) != database:
            continue
        table, kind = names.get(block.group(2), ("(dropped or new relation)", ""))
        cost = tables.setdefault(table, TableCost())
        cost.bytes += size
        cost.fpi_bytes += r["fpi_length"]
        what = _KINDS.get((r["resource_manager"], r["record_type"]), "other")
        if block.group(3) != "main" or (what.startswith("rows") and kind == "i"):
            what = "other"  # a free-space or visibility map page, or an index's own bookkeeping
        cost.counts[what] += 1
    return Footprint(tables, commits, other)
