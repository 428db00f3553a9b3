"""SQL for orders and their lines (R19)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import asyncpg

from services.collection.domain.model import (
    FeeType,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    PayableItem,
)
from services.collection.domain.orders import EXPIRED, EXPIRING
from services.collection.domain.payments import OrderState
from services.collection.repository import ITEM_COLUMNS, item_from_row
from services.collection.sql_literals import state_literal
from services.common.db import Connection
from services.common.money import Fen
from services.common.periods import DateRange

Record = asyncpg.Record

# The expiring state as a literal: the partial index orders_pending_expiry serves this selection only if
# the statement names its predicate (see sql_literals); the state it sets is a parameter.
_EXPIRE_OVERDUE = f"""WITH overdue AS (
    SELECT o.order_id FROM orders o
    WHERE o.status = {state_literal(EXPIRING)} AND o.expires_at <= $1
      AND (cardinality($2::uuid[]) = 0 OR EXISTS (
           SELECT 1 FROM order_lines l WHERE l.order_id = o.order_id AND l.holds_item
             AND l.payable_item_id = ANY($2::uuid[])))
    ORDER BY o.expires_at LIMIT $3 FOR UPDATE SKIP LOCKED)
UPDATE orders o SET status = $4, updated_at = $1 FROM overdue
WHERE o.order_id = overdue.order_id RETURNING o.order_id"""


class OrdersRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def expire_overdue(self, now: dt.datetime, limit: int, item_ids: Sequence[str] = ()) -> list[str]:
        """Expires pending orders past their expiry (all, or those holding these items) and frees their
        items. Orders locked by a payment in progress are skipped: that payment decides them."""
        rows = await self._conn.fetch(_EXPIRE_OVERDUE, now, [uuid.UUID(i) for i in item_ids], limit, EXPIRED.value)
        expired = [r["order_id"] for r in rows]
        if expired:
            await self._conn.execute(
                "UPDATE order_lines SET holds_item = false WHERE order_id = ANY($1::uuid[]) AND holds_item", expired
            )
        return [str(o) for o in expired]

    async def lock_items(self, item_ids: Sequence[str]) -> list[PayableItem]:
        """The items, locked in id order (a fixed order, so two orders over the same items cannot deadlock)."""
        rows = await self._conn.fetch(
            f"""SELECT {ITEM_COLUMNS} FROM payable_items i JOIN insured_persons p USING (resident_id_number)
                WHERE i.payable_item_id = ANY($1::uuid[]) ORDER BY i.payable_item_id FOR UPDATE OF i""",
            [uuid.UUID(i) for i in item_ids],
        )
        return [item_from_row(r) for r in rows]

    async def insert(self, order: Order, items: Sequence[PayableItem]) -> bool:
        """Creates a pending order holding its items, in one round trip; False if an item got held by
        another order meanwhile (the caller then refuses, which rolls the order back)."""
        held = await self._conn.fetchval(
            """WITH new_order AS (
                   INSERT INTO orders (order_id, payer_id_number, kind, status, total_fen, school_code,
                       reinitiated_from, created_at, expires_at, updated_at)
                   VALUES ($1, $2, $3, $11, $4, $5, $6, $7, $8, $7)),
               lines AS (
                   INSERT INTO order_lines (order_id, payable_item_id, amount_fen, holds_item)
                   SELECT $1, l.item, l.amount, true FROM unnest($9::uuid[], $10::bigint[]) AS l(item, amount)
                   ON CONFLICT (payable_item_id) WHERE holds_item DO NOTHING
                   RETURNING 1)
               SELECT count(*) FROM lines""",
            uuid.UUID(order.order_id),
            order.payer_id_number,
            order.kind.value,
            order.total_fen,
            order.school_code,
            uuid.UUID(order.reinitiated_from) if order.reinitiated_from else None,
            order.created_at,
            order.expires_at,
            [uuid.UUID(i.payable_item_id) for i in items],
            [i.amount_fen for i in items],
            order.status.value,
        )
        return bool(held == len(items))

    async def expire_now(self, order_id: str, now: dt.datetime) -> None:
        """Expires a pending order at once (it is being re-initiated) and frees its items."""
        await self._conn.execute(
            "UPDATE orders SET status = $3, updated_at = $2 WHERE order_id = $1 AND status = $4",
            uuid.UUID(order_id),
            now,
            EXPIRED.value,
            EXPIRING.value,
        )
        await self._conn.execute(
            "UPDATE order_lines SET holds_item = false WHERE order_id = $1 AND holds_item", uuid.UUID(order_id)
        )

    async def lock(self, order_id: str) -> OrderState | None:
        try:
            key = uuid.UUID(order_id)
        except ValueError:
            return None
        row = await self._conn.fetchrow(
            "SELECT order_id, status, total_fen, payer_id_number FROM orders WHERE order_id = $1 FOR UPDATE", key
        )
        if row is None:
            return None
        return OrderState(
            str(row["order_id"]), OrderStatus(row["status"]), Fen(row["total_fen"]), row["payer_id_number"]
        )

    async def get(self, order_id: str) -> Order | None:
        try:
            key = uuid.UUID(order_id)
        except ValueError:
            return None
        row = await self._conn.fetchrow(f"SELECT {_ORDER_COLUMNS} FROM orders o WHERE o.order_id = $1", key)
        if row is None:
            return None
        return (await self._with_lines([row]))[0]

    async def list_for_payer(
        self, payer: str, status: OrderStatus | None, after: tuple[str, str] | None, limit: int
    ) -> list[Order]:
        rows = await self._conn.fetch(
            f"""SELECT {_ORDER_COLUMNS} FROM orders o
                WHERE o.payer_id_number = $1 AND ($2::text IS NULL OR o.status = $2)
                  AND ($3::timestamptz IS NULL OR (o.created_at, o.order_id) < ($3::timestamptz, $4::uuid))
                ORDER BY o.created_at DESC, o.order_id DESC LIMIT $5""",
            payer,
            status.value if status else None,
            dt.datetime.fromisoformat(after[0]) if after else None,
            uuid.UUID(after[1]) if after else None,
            limit,
        )
        return await self._with_lines(rows)

    async def _with_lines(self, rows: Sequence[Record]) -> list[Order]:
        lines = await self._conn.fetch(
            """SELECT l.order_id, l.payable_item_id, i.resident_id_number, p.name, i.insurance_year, i.fee_type,
                      l.amount_fen, i.coverage_start, i.coverage_end
               FROM order_lines l JOIN payable_items i USING (payable_item_id)
               JOIN insured_persons p ON p.resident_id_number = i.resident_id_number
               WHERE l.order_id = ANY($1::uuid[]) ORDER BY i.resident_id_number, i.insurance_year, i.fee_type""",
            [r["order_id"] for r in rows],
        )
        by_order: dict[str, list[OrderLine]] = {}
        for line in lines:
            by_order.setdefault(str(line["order_id"]), []).append(line_from_row(line))
        return [order_from_row(r, tuple(by_order.get(str(r["order_id"]), []))) for r in rows]


_ORDER_COLUMNS = """o.order_id, o.payer_id_number, o.status, o.kind, o.total_fen, o.created_at, o.expires_at, o.paid_at,
    o.payment_id, o.reinitiated_from, o.school_code,
    (SELECT r.receipt_number FROM receipts r WHERE r.payment_id = o.payment_id) AS receipt_number"""


def line_from_row(r: Record) -> OrderLine:
    return OrderLine(
        payable_item_id=str(r["payable_item_id"]),
        insured_id_number=r["resident_id_number"],
        insured_name=r["name"],
        insurance_year=r["insurance_year"],
        fee_type=FeeType(r["fee_type"]),
        amount_fen=Fen(r["amount_fen"]),
        coverage=DateRange(r["coverage_start"], r["coverage_end"]),
    )


def order_from_row(r: Record, lines: tuple[OrderLine, ...]) -> Order:
    return Order(
        order_id=str(r["order_id"]),
        payer_id_number=r["payer_id_number"],
        status=OrderStatus(r["status"]),
        kind=OrderKind(r["kind"]),
        total_fen=Fen(r["total_fen"]),
        lines=lines,
        created_at=r["created_at"],
        expires_at=r["expires_at"],
        paid_at=r["paid_at"],
        payment_id=str(r["payment_id"]) if r["payment_id"] else None,
        receipt_number=r["receipt_number"],
        reinitiated_from=str(r["reinitiated_from"]) if r["reinitiated_from"] else None,
        school_code=r["school_code"],
    )
