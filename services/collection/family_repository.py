"""SQL for family mutual-aid account bindings (R46): family_holders and family_members
(deploy/migrations/tax/0006_family_bindings.sql). The balances and their ledger stay with
payments_repository."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg

from services.collection.domain.agreements import Relationship
from services.collection.domain.family import FamilyMember
from services.common.db import Connection

_MEMBER_COLUMNS = """m.holder_id_number, h.holder_name, m.member_id_number, m.member_name, m.relationship,
       m.bound_at"""


def _member(row: asyncpg.Record) -> FamilyMember:
    return FamilyMember(
        holder_id_number=row["holder_id_number"],
        holder_name=row["holder_name"],
        member_id_number=row["member_id_number"],
        member_name=row["member_name"],
        relationship=Relationship(row["relationship"]),
        bound_at=row["bound_at"],
    )


class FamilyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def lock_holder(self, holder: str, name: str, now: dt.datetime) -> str:
        """The name the holder is known by (the first binding's), with their row locked so one holder's
        bindings change one at a time."""
        await self._conn.execute(
            """INSERT INTO family_holders (holder_id_number, holder_name, created_at) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING""",
            holder,
            name,
            now,
        )
        bound_as: str = await self._conn.fetchval(
            "SELECT holder_name FROM family_holders WHERE holder_id_number = $1 FOR UPDATE", holder
        )
        return bound_as

    async def locked_holder_name(self, holder: str) -> str | None:
        """The name a holder who has bound is known by, their row locked; None for a holder never seen."""
        name: str | None = await self._conn.fetchval(
            "SELECT holder_name FROM family_holders WHERE holder_id_number = $1 FOR UPDATE", holder
        )
        return name

    async def members(self, holder: str) -> list[FamilyMember]:
        rows = await self._conn.fetch(
            f"""SELECT {_MEMBER_COLUMNS} FROM family_members m JOIN family_holders h USING (holder_id_number)
                WHERE m.holder_id_number = $1 ORDER BY m.bound_at, m.member_id_number""",
            holder,
        )
        return [_member(r) for r in rows]

    async def bound_among(self, holder: str, numbers: Sequence[str]) -> list[str]:
        """Which of `numbers` are bound to the holder's account (the payment path's check, R46)."""
        rows = await self._conn.fetch(
            """SELECT member_id_number FROM family_members
               WHERE holder_id_number = $1 AND member_id_number = ANY($2::text[])""",
            holder,
            list(numbers),
        )
        return [r["member_id_number"] for r in rows]

    async def bind(self, member: FamilyMember) -> None:
        await self._conn.execute(
            """INSERT INTO family_members (holder_id_number, member_id_number, member_name, relationship, bound_at)
               VALUES ($1, $2, $3, $4, $5)""",
            member.holder_id_number,
            member.member_id_number,
            member.member_name,
            member.relationship.value,
            member.bound_at,
        )

    async def unbind(self, holder: str, member: str) -> bool:
        removed = await self._conn.fetchval(
            "DELETE FROM family_members WHERE holder_id_number = $1 AND member_id_number = $2 RETURNING true",
            holder,
            member,
        )
        return bool(removed)
