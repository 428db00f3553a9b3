"""The benchmark population's loader (benchmarks/loader.py): each person's check document is the one the
registration service's writer makes for their profile, though each distinct document is parsed once
and copied; a grown population keeps its keys, indexes and foreign keys."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from benchmarks import dataset, loader
from benchmarks.processes import Children
from services.common.settings import Settings
from tests.infra import Stack

FIRST, GROWN = 3_000, 5_000

_CONSTRAINTS = """SELECT conrelid::regclass::text, conname, contype::text, convalidated
FROM pg_constraint WHERE conrelid = ANY($1::text[]::regclass[]) AND contype IN ('p', 'u', 'f') ORDER BY 1, 2"""
_INDEXES = "SELECT indexname FROM pg_indexes WHERE tablename = ANY($1::text[]) ORDER BY 1"


@pytest.fixture
async def settings(stack: Stack) -> AsyncIterator[Settings]:
    base = stack.settings()
    own = Settings(insurance_db=f"{stack.tag}_loader_ins", tax_db=f"{stack.tag}_loader_tax", amqp_url=base.amqp_url)
    await loader.create_databases(own)
    yield own
    await loader.drop_databases(own)


async def _schema(dsn: str) -> tuple[list[asyncpg.Record], list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        tables = list(loader.LOADED_TABLES)
        return await conn.fetch(_CONSTRAINTS, tables), [r[0] for r in await conn.fetch(_INDEXES, tables)]
    finally:
        await conn.close()


async def test_every_document_loaded_is_its_profiles_and_a_grown_population_keeps_its_schema(
    settings: Settings, tmp_path: Path
) -> None:
    constraints, indexes = await _schema(settings.insurance_dsn)
    children = Children(tmp_path / "logs")

    first = await loader.load_population(children, settings, FIRST, 2, 700)
    grown = await loader.load_population(children, settings, GROWN, 2, 700, first=FIRST)

    assert first["check_documents"] + grown["check_documents"] == GROWN
    profiles = {dataset.profile_of(i) for i in range(GROWN)}
    # Fewer documents parsed than people loaded: the point of parsing each once.
    assert 1 < grown["distinct_check_documents"] <= len(profiles) < GROWN
    conn = await asyncpg.connect(settings.insurance_dsn)
    try:
        loaded = {
            r[0]: r[1] for r in await conn.fetch("SELECT resident_id_number, doc::text FROM enrollment_check_index")
        }
    finally:
        await conn.close()
    assert len(loaded) == GROWN
    for i in range(GROWN):
        expected = json.loads(dataset.check_doc(dataset.profile_of(i)))
        assert json.loads(loaded[dataset.person_number(i)]) == expected, i
    assert await loader.verify_documents(settings.insurance_dsn, GROWN) > 0

    after, indexes_after = await _schema(settings.insurance_dsn)
    assert indexes_after == indexes
    assert [tuple(r)[:3] for r in after] == [tuple(r)[:3] for r in constraints]
    # Only the grown population's foreign keys skip the scan of the rows already validated.
    assert {r[1] for r in after if not r[3]} == {r[1] for r in constraints if r[2] == "f"}
