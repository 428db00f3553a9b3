"""Migrations apply in order, once; an applied file that was edited is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.common.migrations import (
    Migration,
    MigrationEdited,
    former_names,
    migrate,
    migrations_for,
)
from services.common.settings import Settings
from tests.infra import Stack, scratch_database


@pytest.fixture
async def scratch(stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    async with scratch_database(stack, "scratch") as conn:
        yield conn


async def test_each_agency_has_its_own_tables(stack: Stack) -> None:
    settings: Settings = stack.settings()
    insurance = await asyncpg.connect(settings.insurance_dsn)
    tax = await asyncpg.connect(settings.tax_dsn)
    try:
        insurance_tables = {
            r[0] for r in await insurance.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        tax_tables = {r[0] for r in await tax.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    finally:
        await insurance.close()
        await tax.close()
    assert {"enrollments", "region_policies", "outbox", "inbox"} <= insurance_tables
    assert {"payable_items", "payments", "receipts", "outbox", "inbox"} <= tax_tables
    assert "enrollments" not in tax_tables and "payments" not in insurance_tables


async def test_rerunning_migrations_is_a_no_op(scratch: asyncpg.Connection) -> None:
    first = await migrate(scratch, migrations_for("tax"))
    assert first == [m.name for m in migrations_for("tax")]
    assert await migrate(scratch, migrations_for("tax")) == []


async def test_an_edited_migration_is_refused(scratch: asyncpg.Connection) -> None:
    await migrate(scratch, [Migration("x/0001.sql", "CREATE TABLE t (a int);")])
    with pytest.raises(MigrationEdited):
        await migrate(scratch, [Migration("x/0001.sql", "CREATE TABLE t (a bigint);")])


async def test_a_failing_migration_leaves_nothing_behind(scratch: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.PostgresError):
        await migrate(scratch, [Migration("x/0001.sql", "CREATE TABLE t (a int); SELECT 1/0;")])
    assert await scratch.fetchval("SELECT to_regclass('t')") is None
    assert await scratch.fetchval("SELECT count(*) FROM schema_migrations") == 0


async def test_a_database_migrated_before_the_renumbering_applies_nothing_again(scratch: asyncpg.Connection) -> None:
    """Issue 20: two files shared a number and were renumbered. A database that applied them under their
    former names (deploy/migrations/renamed.txt) takes the present names and applies nothing twice."""
    present = migrations_for("tax")
    formers = former_names()
    assert formers, "deploy/migrations/renamed.txt lists the renumbered files"
    before = [Migration(formers.get(m.name, m.name), m.sql) for m in present]
    assert await migrate(scratch, before, formers={}) == [m.name for m in before]
    assert await migrate(scratch, present) == []
    recorded = {r["name"] for r in await scratch.fetch("SELECT name FROM schema_migrations")}
    assert recorded == {m.name for m in present}
    assert await migrate(scratch, present) == []


async def test_a_renumbered_migration_edited_since_it_was_applied_is_refused(scratch: asyncpg.Connection) -> None:
    await migrate(scratch, [Migration("x/0002_b.sql", "CREATE TABLE b (a int);")], formers={})
    renamed = {"x/0003_b.sql": "x/0002_b.sql"}
    with pytest.raises(MigrationEdited):
        await migrate(scratch, [Migration("x/0003_b.sql", "CREATE TABLE b (a bigint);")], formers=renamed)
    assert await migrate(scratch, [Migration("x/0003_b.sql", "CREATE TABLE b (a int);")], formers=renamed) == []
