"""SQL for deduction agreements, runs and attempts (R27). Card numbers arrive here encrypted only."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from services.collection.domain.agreements import (
    Agreement,
    AgreementStatus,
    EncryptedCard,
    IdType,
    Relationship,
    StoredCard,
)
from services.collection.sql_literals import state_literal
from services.common.db import Connection

Record = asyncpg.Record

_COLUMNS = """agreement_id, payer_id_number, insured_id_type, insured_id_number, insured_name, bank_name,
    card_last_four, card_holder_name, card_phone, relationship, status, code_expires_at, wrong_code_attempts,
    failed_deduction_runs, created_at, activated_at"""
# The predicate of the partial index deduction_agreements_one_active, named so that the statement below can
# use it (sql_literals).
_ACTIVE = state_literal(AgreementStatus.ACTIVE)


class AgreementsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def insert(self, agreement: Agreement, card: EncryptedCard, code_digest: bytes, now: dt.datetime) -> None:
        await self._conn.execute(
            """INSERT INTO deduction_agreements (agreement_id, payer_id_number, insured_id_type, insured_id_number,
                   insured_name, bank_name, card_key_id, card_ciphertext, card_last_four, card_holder_name, card_phone,
                   relationship, status, code_digest, code_expires_at, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)""",
            uuid.UUID(agreement.agreement_id),
            agreement.payer_id_number,
            agreement.insured_id_type.value,
            agreement.insured_id_number,
            agreement.insured_name,
            agreement.bank_name,
            card.key_id,
            card.ciphertext,
            card.last_four,
            agreement.card_holder_name,
            agreement.card_phone,
            agreement.relationship.value,
            agreement.status.value,
            code_digest,
            agreement.code_expires_at,
            now,
        )

    async def get(self, agreement_id: str, *, for_update: bool = False) -> tuple[Agreement, bytes] | None:
        """The agreement and its code digest."""
        try:
            key = uuid.UUID(agreement_id)
        except ValueError:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS}, code_digest FROM deduction_agreements WHERE agreement_id = $1"
            + (" FOR UPDATE" if for_update else ""),
            key,
        )
        return (agreement_from_row(row), bytes(row["code_digest"])) if row else None

    async def list_for_payer(self, payer: str) -> list[Agreement]:
        rows = await self._conn.fetch(
            f"""SELECT {_COLUMNS} FROM deduction_agreements WHERE payer_id_number = $1
                ORDER BY created_at DESC, agreement_id DESC LIMIT 100""",
            payer,
        )
        return [agreement_from_row(r) for r in rows]

    async def active_for_insured(self, insured: str) -> str | None:
        found = await self._conn.fetchval(
            f"SELECT agreement_id FROM deduction_agreements WHERE insured_id_number = $1 AND status = {_ACTIVE}",
            insured,
        )
        return str(found) if found else None

    async def activate(self, agreement_id: str, now: dt.datetime) -> bool:
        """False when another agreement of the same person became active first (the unique index)."""
        try:
            async with self._conn.transaction():
                await self._conn.execute(
                    """UPDATE deduction_agreements SET status = $3, activated_at = $2, updated_at = $2
                       WHERE agreement_id = $1""",
                    uuid.UUID(agreement_id),
                    now,
                    AgreementStatus.ACTIVE.value,
                )
        except asyncpg.UniqueViolationError:
            return False
        return True

    async def count_wrong_code(self, agreement_id: str, lock: bool, now: dt.datetime) -> int:
        """Adds a wrong attempt (and locks the agreement when told to); returns the attempts so far."""
        attempts = await self._conn.fetchval(
            """UPDATE deduction_agreements SET wrong_code_attempts = wrong_code_attempts + 1,
                   status = CASE WHEN $2 THEN $4::text ELSE status END, updated_at = $3
               WHERE agreement_id = $1 AND status = $5 RETURNING wrong_code_attempts""",
            uuid.UUID(agreement_id),
            lock,
            now,
            AgreementStatus.LOCKED.value,
            AgreementStatus.PENDING_VERIFICATION.value,
        )
        return int(attempts or 0)

    async def set_status(self, agreement_id: str, status: AgreementStatus, now: dt.datetime) -> None:
        await self._conn.execute(
            "UPDATE deduction_agreements SET status = $2, updated_at = $3 WHERE agreement_id = $1",
            uuid.UUID(agreement_id),
            status.value,
            now,
        )

    async def card(self, agreement_id: str) -> StoredCard:
        row = await self._conn.fetchrow(
            "SELECT card_key_id, card_ciphertext FROM deduction_agreements WHERE agreement_id = $1",
            uuid.UUID(agreement_id),
        )
        assert row is not None
        return StoredCard(agreement_id, row["card_key_id"], bytes(row["card_ciphertext"]))

    async def cards_not_under(self, key_id: str, limit: int) -> list[StoredCard]:
        rows = await self._conn.fetch(
            """SELECT agreement_id, card_key_id, card_ciphertext FROM deduction_agreements
               WHERE card_key_id <> $1 ORDER BY agreement_id LIMIT $2 FOR UPDATE SKIP LOCKED""",
            key_id,
            limit,
        )
        return [StoredCard(str(r["agreement_id"]), r["card_key_id"], bytes(r["card_ciphertext"])) for r in rows]

    async def replace_card(self, agreement_id: str, card: EncryptedCard, now: dt.datetime) -> None:
        await self._conn.execute(
            """UPDATE deduction_agreements SET card_key_id = $2, card_ciphertext = $3, updated_at = $4
               WHERE agreement_id = $1""",
            uuid.UUID(agreement_id),
            card.key_id,
            card.ciphertext,
            now,
        )

    # -- the agreements a deduction run goes through --------------------------------------------

    async def active_after(self, after: str | None, limit: int) -> list[str]:
        """Active agreements in id order (keyset paging over a run)."""
        rows = await self._conn.fetch(
            """SELECT agreement_id FROM deduction_agreements
               WHERE status = $3 AND ($1::uuid IS NULL OR agreement_id > $1::uuid)
               ORDER BY agreement_id LIMIT $2""",
            uuid.UUID(after) if after else None,
            limit,
            AgreementStatus.ACTIVE.value,
        )
        return [str(r["agreement_id"]) for r in rows]

    async def lock_active(self, agreement_id: str) -> Agreement | None:
        """The agreement if still active and not being deducted by another run right now."""
        row = await self._conn.fetchrow(
            f"""SELECT {_COLUMNS} FROM deduction_agreements WHERE agreement_id = $1 AND status = $2
                FOR UPDATE SKIP LOCKED""",
            uuid.UUID(agreement_id),
            AgreementStatus.ACTIVE.value,
        )
        return agreement_from_row(row) if row else None

    async def set_failed_runs(self, agreement_id: str, failed_runs: int, now: dt.datetime) -> None:
        await self._conn.execute(
            "UPDATE deduction_agreements SET failed_deduction_runs = $2, updated_at = $3 WHERE agreement_id = $1",
            uuid.UUID(agreement_id),
            failed_runs,
            now,
        )


def agreement_from_row(r: Record) -> Agreement:
    return Agreement(
        agreement_id=str(r["agreement_id"]),
        payer_id_number=r["payer_id_number"],
        insured_id_type=IdType(r["insured_id_type"]),
        insured_id_number=r["insured_id_number"],
        insured_name=r["insured_name"],
        bank_name=r["bank_name"],
        card_last_four=r["card_last_four"],
        card_holder_name=r["card_holder_name"],
        card_phone=r["card_phone"],
        relationship=Relationship(r["relationship"]),
        status=AgreementStatus(r["status"]),
        code_expires_at=r["code_expires_at"],
        wrong_code_attempts=r["wrong_code_attempts"],
        failed_deduction_runs=r["failed_deduction_runs"],
        created_at=r["created_at"],
        activated_at=r["activated_at"],
    )
