"""Background volume for the payment benchmarks: payable items already in the tax database, with the
insured persons and enrollment references they need (deploy/migrations/tax/0001_collection.sql), made by
PostgreSQL itself (INSERT ... SELECT FROM generate_series: nothing crosses the wire).

Item j belongs to background person j // 3 and is for benefit year 2025 + j % 3, so each person owes
three years, as a resident enrolled since 2025 does. Person p gets a valid resident ID (a district prefix
of a demo region other than the payment benchmark's own 320402, a birth date, a sequence and the ISO 7064
check character), a category from the birth date, and the items a mix of statuses by year (past years
mostly PAID, the year on sale mostly UNPAID; some CANCELLED and SETTLED_BY_SUBSIDY), so every index has
its real shape. The keys and indexes of the three tables are dropped before and rebuilt after
(benchmarks/loader.py: a sorted build is far cheaper than millions of random B-tree inserts), then the
tables are vacuumed and analysed. Growing (`first` > 0) adds items first.. to the ones already there.

Not written: the payments and receipts of the background PAID items (their paid_by_payment_id is a made-up
id; the payments table holds only what the benchmark's own phases pay).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import asyncpg

from benchmarks import dataset, loader
from services.common.resident_id import check_character

TABLES = ("payable_items", "enrollment_refs", "insured_persons")  # biggest first
FIRST_YEAR, YEARS = 2025, 3
BIRTH_DAYS = 30_000  # 1940-01-01 onwards, about 82 years
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_PREFIXES = [(p, region) for region, ps in dataset.REGION_PREFIXES.items() for p in ps if p != "320402"]
_ARRAY = "ARRAY[" + ",".join(f"'{p}'" for p, _ in _PREFIXES) + "]"
_REGIONS = "ARRAY[" + ",".join(f"'{r}'" for _, r in _PREFIXES) + "]"
_N = len(_PREFIXES)


def _digit_sum(text: str, weights: tuple[int, ...]) -> int:
    return sum(int(c) * w for c, w in zip(text, weights, strict=True))


# The ID's weighted digit sum is the prefix's + the birth date's + the sequence's, each looked up or
# computed per row from small integer arrays (O(1) subscripts): no function call per row.
_BIRTH_SUMS = (
    "(ARRAY["
    + ",".join(
        str(_digit_sum(f"{dt.date(1940, 1, 1) + dt.timedelta(days=d):%Y%m%d}", WEIGHTS[6:14]))
        for d in range(BIRTH_DAYS)
    )
    + "]::int[])"
)
_PREFIX_SUMS = "(ARRAY[" + ",".join(str(_digit_sum(p, WEIGHTS[:6])) for p, _ in _PREFIXES) + "]::int[])"


def _person(p: str) -> str:
    """A lateral subquery over person number `p`: its resident ID `rid`, region, category and birth date."""
    a, d, q = (
        f"({p} % {_N})::int + 1",
        f"(({p} / {_N}) % {BIRTH_DAYS})::int",
        f"(({p} / {_N * BIRTH_DAYS}) % 1000)::int",
    )
    check = (
        f"substr('10X98765432', ({_PREFIX_SUMS}[{a}] + {_BIRTH_SUMS}[{d} + 1] + ({q} / 100) * 6 + ({q} / 10 % 10) * 3"
        f" + ({q} % 10) * 7) % 11 + 1, 1)"
    )
    birth = f"date '1940-01-01' + {d}"
    rid = f"({_ARRAY})[{a}] || to_char({birth}, 'YYYYMMDD') || lpad({q}::text, 3, '0') || {check}"
    return f"""LATERAL (SELECT {rid} AS rid,
        ({_REGIONS})[{a}] AS region, {birth} AS birth,
        CASE WHEN {p} % 50 = 0 THEN 'HARDSHIP_LOW_INCOME' WHEN {birth} > date '2008-11-01' THEN 'MINOR'
             WHEN {birth} <= date '1966-11-01' THEN 'ELDERLY' ELSE 'NON_EMPLOYED' END AS category OFFSET 0) x"""


# Persons and enrollments: person p for every p whose first item (3p) is in [first, last).
_PERSONS = """
INSERT INTO insured_persons (resident_id_number, name, birth_date, updated_at)
SELECT x.rid, (ARRAY['王','李','张','刘','陈','杨','黄','赵','吴','周'])[(p % 10) + 1]
       || (ARRAY['伟','芳','娜','敏','静','磊','洋','勇','艳','杰'])[((p / 10) % 10) + 1], x.birth, now()
FROM generate_series(({first}::bigint + 2) / 3, ({last}::bigint + 2) / 3 - 1) p, """ + _person("p")
_ENROLLMENTS = """
INSERT INTO enrollment_refs (enrollment_id, resident_id_number, region_code, category, state, last_sequence,
                             updated_at)
SELECT md5('enrollment ' || p)::uuid, x.rid, x.region, x.category,
       CASE WHEN p % 40 = 0 THEN 'STOPPED' ELSE 'ACTIVE' END, 1, now()
FROM generate_series(({first}::bigint + 2) / 3, ({last}::bigint + 2) / 3 - 1) p, """ + _person("p")
# Items j in [first, last): status by year from a per-item number h in 0..99.
_ITEMS = """
INSERT INTO payable_items (payable_item_id, enrollment_id, resident_id_number, region_code, category,
    insurance_year, fee_type, standard_fen, subsidy_fen, amount_fen, status, policy_version, window_start,
    window_end, payable_until, coverage_start, coverage_end, newborn_current_year, paid_by_payment_id,
    created_at, updated_at)
SELECT md5('item ' || j)::uuid, md5('enrollment ' || k.p)::uuid, x.rid, x.region, x.category, k.y,
       'RESIDENT_MEDICAL', s.standard, s.subsidy, s.standard - s.subsidy,
       s.status, 1, make_date(k.y - 1, 9, 1), make_date(k.y - 1, 12, 31), make_date(k.y - 1, 12, 31),
       make_date(k.y, 1, 1), make_date(k.y, 12, 31), false,
       CASE WHEN s.status IN ('PAID', 'SETTLED_BY_SUBSIDY') THEN md5('payment ' || j)::uuid END, now(), now()
FROM generate_series({first}::bigint, {last}::bigint - 1) j,
     LATERAL (SELECT j / 3 AS p, {first_year} + (j % 3)::int AS y, (j * 7919) % 100 AS h OFFSET 0) k,
     LATERAL (
         SELECT st AS status, CASE WHEN k.y = {first_year} THEN 38000 ELSE 40000 END AS standard,
                CASE WHEN st = 'SETTLED_BY_SUBSIDY' THEN CASE WHEN k.y = {first_year} THEN 38000 ELSE 40000 END
                     WHEN k.p % 50 = 0 THEN 20000 ELSE 0 END AS subsidy
         FROM (SELECT CASE
             WHEN k.h < 3 - (k.y - {first_year}) THEN 'CANCELLED'
             WHEN k.h < 7 - (k.y - {first_year}) THEN 'SETTLED_BY_SUBSIDY'
             WHEN k.h < (ARRAY[97, 88, 40])[k.y - {first_year} + 1] THEN 'PAID'
             ELSE 'UNPAID' END AS st) c
     ) s, """ + _person("k.p")


async def add_items(dsn: str, first: int, last: int) -> dict[str, Any]:
    """Adds background items first..last-1 (and their persons and enrollments); times of each step."""
    started = time.perf_counter_ns()
    conn = await asyncpg.connect(dsn)
    try:
        schema = await loader.drop_keys_and_indexes(conn, TABLES)
    finally:
        await conn.close()
    insert_started = time.perf_counter_ns()
    values = {"first": first, "last": last, "first_year": FIRST_YEAR}
    middle = (first + last) // 2
    # The items in two halves, one per connection; persons and enrollments (a third as many rows each)
    # go to whichever connection finishes first.
    await loader.run_in_parallel(
        dsn,
        [
            loader.Statement("payable_items", _ITEMS.format(**(values | {"last": middle}))),
            loader.Statement("payable_items", _ITEMS.format(**(values | {"first": middle}))),
            loader.Statement("enrollment_refs", _ENROLLMENTS.format(**values)),
            loader.Statement("insured_persons", _PERSONS.format(**values)),
        ],
    )
    build_started = time.perf_counter_ns()
    # Foreign keys NOT VALID: the background rows are consistent by construction, and the keys are still
    # checked for every row the phases write (not scanning 10M rows saves tens of seconds).
    await loader.rebuild(dsn, schema, TABLES, validate=False)
    vacuum_started = time.perf_counter_ns()
    await loader.vacuum_analyze(dsn, TABLES)
    finished = time.perf_counter_ns()
    return {
        "first": first,
        "items": last,
        "insert_seconds": _seconds(build_started - insert_started),
        "index_seconds": _seconds(vacuum_started - build_started),
        "vacuum_analyze_seconds": _seconds(finished - vacuum_started),
        "total_seconds": _seconds(finished - started),
        **await shape(dsn),
    }


async def shape(dsn: str, sample: int = 200) -> dict[str, Any]:
    """What the tax database holds (counts by status, persons, index sizes) and a check that a sample of
    the background IDs carries valid check characters."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM payable_items GROUP BY status ORDER BY 1")
        persons = await conn.fetchval("SELECT count(*) FROM insured_persons")
        indexes = await conn.fetchval(
            "SELECT sum(pg_relation_size(indexrelid)) FROM pg_index WHERE indrelid = 'payable_items'::regclass"
        )
        table = await conn.fetchval("SELECT pg_relation_size('payable_items')")
        numbers = await conn.fetch(
            "SELECT resident_id_number FROM insured_persons TABLESAMPLE SYSTEM (1) LIMIT $1", sample
        )
    finally:
        await conn.close()
    bad = [n for (n,) in numbers if check_character(n[:17]) != n[17]]
    if bad:
        raise AssertionError(f"background resident IDs with a wrong check character: {bad[:5]}")
    return {
        "statuses": {r["status"]: int(r["n"]) for r in rows},
        "insured_persons": int(persons),
        "payable_items_table_mib": round(int(table) / 2**20, 1),
        "payable_items_indexes_mib": round(int(indexes or 0) / 2**20, 1),
        "ids_verified": len(numbers),
    }


def _seconds(ns: int) -> float:
    return round(ns / 1e9, 3)
