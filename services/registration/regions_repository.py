"""Regions, schools and the versioned region policies (R2). Reads and writes only; every query uses $n."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg

from services.common.db import Connection
from services.common.money import Fen
from services.common.periods import DateRange
from services.registration.domain.evidence_rules import evidence_from_json, evidence_to_json
from services.registration.domain.long_term_rules import LongTermRules, default_rules, rules_from_json, rules_to_json
from services.registration.domain.model import Category, Region, RegionPolicy, ReviewMode, School

_POLICY_COLUMNS = """p.region_code, p.insurance_year, p.version, p.individual_standard_fen,
    p.fiscal_subsidy_fen, p.newborn_standard_fen, p.window_start, p.window_end, p.benefit_start,
    p.benefit_end, p.review_mode, p.demo_data, p.review_grace_days, p.created_at, p.long_term,
    p.evidence, p.elderly_age, p.channel_openings,
    COALESCE((SELECT jsonb_object_agg(s.category, s.subsidy_fen) FROM region_policy_subsidies s
              WHERE (s.region_code, s.insurance_year, s.version)
                  = (p.region_code, p.insurance_year, p.version)), '{}'::jsonb) AS subsidies"""


class RegionsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- regions and schools ------------------------------------------------------------------

    async def get_region(self, code: str) -> Region | None:
        found = await self.regions_of([code])
        return found.get(code)

    async def regions_of(self, codes: Sequence[str]) -> dict[str, Region]:
        rows = await self._conn.fetch(
            "SELECT region_code, name FROM regions WHERE region_code = ANY($1::text[])", list(codes)
        )
        return {r["region_code"]: Region(r["region_code"], r["name"]) for r in rows}

    async def insert_region(self, region: Region, now: dt.datetime) -> bool:
        """False when a region with that code exists."""
        inserted = await self._conn.fetchval(
            """INSERT INTO regions (region_code, name, created_at) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING true""",
            region.code,
            region.name,
            now,
        )
        return bool(inserted)

    async def list_regions(self, after: str | None, limit: int) -> list[Region]:
        rows = await self._conn.fetch(
            "SELECT region_code, name FROM regions WHERE region_code > $1 ORDER BY region_code LIMIT $2",
            after or "",
            limit,
        )
        return [Region(r["region_code"], r["name"]) for r in rows]

    async def get_school(self, code: str) -> School | None:
        found = await self.schools_of([code])
        return found.get(code)

    async def schools_of(self, codes: Sequence[str]) -> dict[str, School]:
        rows = await self._conn.fetch(
            "SELECT school_code, name, region_code FROM schools WHERE school_code = ANY($1::text[])", list(codes)
        )
        return {r["school_code"]: School(r["school_code"], r["name"], r["region_code"]) for r in rows}

    async def insert_school(self, school: School, now: dt.datetime) -> bool:
        inserted = await self._conn.fetchval(
            """INSERT INTO schools (school_code, name, region_code, created_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT DO NOTHING RETURNING true""",
            school.code,
            school.name,
            school.region_code,
            now,
        )
        return bool(inserted)

    async def list_schools(self, region_code: str, after: str | None, limit: int) -> list[School]:
        rows = await self._conn.fetch(
            """SELECT school_code, name, region_code FROM schools
               WHERE region_code = $1 AND school_code > $2 ORDER BY school_code LIMIT $3""",
            region_code,
            after or "",
            limit,
        )
        return [School(r["school_code"], r["name"], r["region_code"]) for r in rows]

    # -- policies -----------------------------------------------------------------------------

    async def current_policies(self, region_code: str) -> dict[int, RegionPolicy]:
        """The latest version of each insurance year of a region."""
        return (await self.current_policies_of([region_code]))[region_code]

    async def current_policies_of(self, region_codes: Sequence[str]) -> dict[str, dict[int, RegionPolicy]]:
        rows = await self._conn.fetch(
            f"""SELECT DISTINCT ON (p.region_code, p.insurance_year) {_POLICY_COLUMNS}
                FROM region_policies p WHERE p.region_code = ANY($1::text[])
                ORDER BY p.region_code, p.insurance_year, p.version DESC""",
            list(region_codes),
        )
        found: dict[str, dict[int, RegionPolicy]] = {code: {} for code in region_codes}
        for r in rows:
            found[r["region_code"]][r["insurance_year"]] = _policy(r)
        return found

    async def get_policy(self, region_code: str, year: int, version: int) -> RegionPolicy | None:
        """A specific version, or the current one when version is 0."""
        row = await self._conn.fetchrow(
            f"""SELECT {_POLICY_COLUMNS} FROM region_policies p
                WHERE p.region_code = $1 AND p.insurance_year = $2 AND ($3 = 0 OR p.version = $3)
                ORDER BY p.version DESC LIMIT 1""",
            region_code,
            year,
            version,
        )
        return _policy(row) if row else None

    async def long_term_of(self, keys: Sequence[tuple[str, int, int]]) -> dict[tuple[str, int, int], LongTermRules]:
        """The long-term mechanism's terms (R36-R39) of these policy versions, by (region, year, version);
        a version not stored reads as the year's national defaults."""
        wanted = sorted(set(keys))
        rows = await self._conn.fetch(
            """SELECT region_code, insurance_year, version, long_term FROM region_policies
               WHERE (region_code, insurance_year, version) IN
                     (SELECT * FROM unnest($1::text[], $2::int[], $3::int[]))""",
            [k[0] for k in wanted],
            [k[1] for k in wanted],
            [k[2] for k in wanted],
        )
        found = {
            (r["region_code"], r["insurance_year"], r["version"]): rules_from_json(r["long_term"], r["insurance_year"])
            for r in rows
        }
        return {k: found.get(k, default_rules(k[1])) for k in wanted}

    async def insert_policy_version(self, policy: RegionPolicy, now: dt.datetime) -> RegionPolicy:
        """Stores the policy as the next version of its region and year."""
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('region_policy:' || $1 || ':' || ($2::int)::text))",
            policy.region_code,
            policy.insurance_year,
        )
        version = await self._conn.fetchval(
            """SELECT COALESCE(max(version), 0) + 1 FROM region_policies
               WHERE region_code = $1 AND insurance_year = $2""",
            policy.region_code,
            policy.insurance_year,
        )
        await self._conn.execute(
            """INSERT INTO region_policies (region_code, insurance_year, version, individual_standard_fen,
                   fiscal_subsidy_fen, newborn_standard_fen, window_start, window_end, benefit_start,
                   benefit_end, review_mode, demo_data, review_grace_days, created_at, long_term, evidence,
                   elderly_age, channel_openings)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)""",
            policy.region_code,
            policy.insurance_year,
            version,
            policy.individual_standard_fen,
            policy.fiscal_subsidy_fen,
            policy.newborn_standard_fen,
            policy.collection_window.start,
            policy.collection_window.end,
            policy.benefit_period.start,
            policy.benefit_period.end,
            policy.review_mode.value,
            policy.demo_data,
            policy.review_grace_days,
            now,
            rules_to_json(policy.rules),
            evidence_to_json(policy.evidence),
            policy.elderly_age,
            {c: d.isoformat() for c, d in sorted(policy.channel_openings.items())} if policy.channel_openings else None,
        )
        await self._conn.executemany(
            """INSERT INTO region_policy_subsidies (region_code, insurance_year, version, category, subsidy_fen)
               VALUES ($1, $2, $3, $4, $5)""",
            [
                (policy.region_code, policy.insurance_year, version, category.value, fen)
                for category, fen in sorted(policy.category_subsidies.items())
            ],
        )
        stored = await self.get_policy(policy.region_code, policy.insurance_year, version)
        assert stored is not None
        return stored

    async def list_current_policies(
        self, region_code: str, after: tuple[str, int] | None, limit: int
    ) -> list[RegionPolicy]:
        after_region, after_year = after or ("", 0)
        rows = await self._conn.fetch(
            f"""SELECT DISTINCT ON (p.region_code, p.insurance_year) {_POLICY_COLUMNS}
                FROM region_policies p
                WHERE ($1 = '' OR p.region_code = $1) AND (p.region_code, p.insurance_year) > ($2, $3)
                ORDER BY p.region_code, p.insurance_year, p.version DESC LIMIT $4""",
            region_code,
            after_region,
            after_year,
            limit,
        )
        return [_policy(r) for r in rows]

    async def regions_with_windows_open(self, today: dt.date) -> dict[str, list[RegionPolicy]]:
        """Current policies of every region with a collection window open today."""
        rows = await self._conn.fetch(
            "SELECT DISTINCT region_code FROM region_policies WHERE window_start <= $1 AND window_end >= $1", today
        )
        policies = await self.current_policies_of([r["region_code"] for r in rows])
        return {code: list(by_year.values()) for code, by_year in policies.items()}


def _policy(r: asyncpg.Record) -> RegionPolicy:
    return RegionPolicy(
        region_code=r["region_code"],
        insurance_year=r["insurance_year"],
        version=r["version"],
        individual_standard_fen=Fen(r["individual_standard_fen"]),
        fiscal_subsidy_fen=Fen(r["fiscal_subsidy_fen"]),
        newborn_standard_fen=Fen(r["newborn_standard_fen"]),
        category_subsidies={Category(k): Fen(int(v)) for k, v in r["subsidies"].items()},
        collection_window=DateRange(r["window_start"], r["window_end"]),
        benefit_period=DateRange(r["benefit_start"], r["benefit_end"]),
        review_mode=ReviewMode(r["review_mode"]),
        demo_data=r["demo_data"],
        review_grace_days=r["review_grace_days"],
        created_at=r["created_at"],
        long_term=rules_from_json(r["long_term"], r["insurance_year"]),
        evidence=evidence_from_json(r["evidence"]),
        elderly_age=r["elderly_age"],
        channel_openings={c: dt.date.fromisoformat(d) for c, d in r["channel_openings"].items()}
        if r["channel_openings"]
        else None,
    )
