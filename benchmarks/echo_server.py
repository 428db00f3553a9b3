"""The ceilings: bare grpc.aio handlers without interceptor, call policy, domain or repositories, run on
uvloop like the services (python -m benchmarks.echo_server --port N [--check-dsn DSN] [--tax-dsn DSN]).

- Echo: returns its request bytes untouched; what a Python gRPC round trip costs on this machine.
- CheckSelect (with --check-dsn): the enrollment check's primary-key SELECT; returns the document's bytes.
- PayShape (with --tax-dsn): the same transaction as an applied NotifyPayment on the same tables and
  indexes, in the fewest round trips: BEGIN; one statement reading the order (locked), its items
  (locked), any earlier payment of the channel transaction, the request-id record and the next receipt
  number; one data-modifying statement writing the payment, its items, the items and the order, the
  receipt, the outbox row, the notification record and the request-id record; COMMIT.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import signal
import uuid
from typing import Any

import asyncpg
import grpc
import orjson
import uvloop
from medins.collection.v1 import collection_service_pb2 as col
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk

SERVICE = "medins.bench.v1.Echo"
METHOD = f"/{SERVICE}/Echo"
CHECK_SELECT = f"/{SERVICE}/CheckSelect"
PAY_SHAPE = f"/{SERVICE}/PayShape"
POOL_SIZE = 10  # the services' default pool (MEDINS_DB_POOL_MAX)
# A payment.confirmed envelope is about this size; its bytes do not matter to the relay or the broker.
ENVELOPE = bytes(320)
IDEMPOTENCY_METHOD = "/medins.collection.v1.CollectionService/NotifyPayment"

READ_PAYMENT = """
WITH locked AS (
    SELECT o.status AS order_status, o.total_fen, o.payer_id_number, i.payable_item_id, i.status AS item_status,
           i.payable_until, l.amount_fen
    FROM orders o JOIN order_lines l USING (order_id) JOIN payable_items i USING (payable_item_id)
    WHERE o.order_id = $1
    FOR UPDATE OF o, i
)
SELECT locked.*,
       (SELECT payment_id FROM payments WHERE channel = $2 AND channel_transaction_id = $3) AS earlier_payment,
       (SELECT response FROM idempotency_keys WHERE method = $4 AND request_id = $5) AS earlier_response,
       nextval('receipt_number_seq') AS receipt_seq
FROM locked
"""

WRITE_PAYMENT = """
WITH payment AS (
    INSERT INTO payments (payment_id, order_id, payer_id_number, channel, channel_transaction_id, amount_fen,
                          paid_at, outcome, payload_sha256, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, 'APPLIED', $8, now())
), lines AS (
    INSERT INTO payment_items (payment_id, payable_item_id, amount_fen)
    SELECT $1, item, amount FROM unnest($9::uuid[], $10::bigint[]) AS t(item, amount)
), items AS (
    UPDATE payable_items SET status = 'PAID', paid_by_payment_id = $1, updated_at = now()
    WHERE payable_item_id = ANY($9::uuid[])
), paid_order AS (
    UPDATE orders SET status = 'PAID', paid_at = $7, payment_id = $1, updated_at = now() WHERE order_id = $2
), receipt AS (
    INSERT INTO receipts (receipt_number, payment_id, issued_at) VALUES ($11, $1, now())
), event AS (
    INSERT INTO outbox (event_id, event_type, envelope, correlation_id) VALUES ($12, 'payment.confirmed', $13, $14)
), notification AS (
    INSERT INTO channel_notifications (channel, channel_transaction_id, order_id, amount_fen, paid_at,
                                       payload_sha256, outcome, payment_id, received_at)
    VALUES ($4, $5, $2::text, $6, $7, $8, 'APPLIED', $1, now())
)
INSERT INTO idempotency_keys (method, request_id, fingerprint, response) VALUES ($15, $16, $8, $17)
"""


async def _echo(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    return request


class Ceilings:
    """The two handlers that reach the database, on one pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def check_select(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        number = chk.CheckEnrollmentRequest.FromString(request).target.resident_id_number
        doc = await self.pool.fetchval("SELECT doc FROM enrollment_check_index WHERE resident_id_number = $1", number)
        return b"" if doc is None else doc.encode()

    async def pay_shape(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        notification = col.NotifyPaymentRequest.FromString(request)
        fields = orjson.loads(notification.payload)  # a WeChat notification, as the load's
        order_id, transaction, amount = fields["out_trade_no"], fields["transaction_id"], fields["amount"]["total"]
        channel = "WECHAT"
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                READ_PAYMENT, uuid.UUID(order_id), channel, transaction, IDEMPOTENCY_METHOD, notification.request_id
            )
            if not rows:
                await context.abort(grpc.StatusCode.NOT_FOUND, "unknown order")
            first = rows[0]
            if first["earlier_response"] is not None:
                return bytes(first["earlier_response"])
            applicable = (
                first["earlier_payment"] is None
                and first["order_status"] == "PENDING"
                and first["total_fen"] == amount
                and all(r["item_status"] == "UNPAID" for r in rows)
            )
            if not applicable:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "not applicable")
            payment_id, receipt = uuid.uuid4(), f"R{first['receipt_seq']:012d}"
            response = col.NotifyPaymentResponse(
                outcome=col.NOTIFICATION_OUTCOME_APPLIED,
                payment_id=str(payment_id),
                order_id=order_id,
                receipt_number=receipt,
            ).SerializeToString()
            await conn.execute(
                WRITE_PAYMENT,
                payment_id,
                uuid.UUID(order_id),
                first["payer_id_number"],
                channel,
                transaction,
                amount,
                dt.datetime.fromisoformat(fields["success_time"]),
                hashlib.sha256(notification.payload).digest(),
                [r["payable_item_id"] for r in rows],
                [r["amount_fen"] for r in rows],
                receipt,
                uuid.uuid4(),
                ENVELOPE,
                notification.request_id,
                IDEMPOTENCY_METHOD,
                notification.request_id,
                response,
            )
        return response


async def serve(port: int, check_dsn: str | None, tax_dsn: str | None) -> None:
    server = grpc.aio.server()
    # No (de)serializers: the handlers see and return raw bytes.
    methods = {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
    pools = []
    for dsn, name, handler in ((check_dsn, "CheckSelect", "check_select"), (tax_dsn, "PayShape", "pay_shape")):
        if dsn:
            pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
            pools.append(pool)
            methods[name] = grpc.unary_unary_rpc_method_handler(getattr(Ceilings(pool), handler))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, methods),))
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise SystemExit(f"cannot listen on port {port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1)
    for pool in pools:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--check-dsn", help="serve CheckSelect on this insurance database")
    parser.add_argument("--tax-dsn", help="serve PayShape on this tax database")
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.check_dsn, args.tax_dsn))


if __name__ == "__main__":
    main()
