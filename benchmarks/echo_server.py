"""The ceilings: bare grpc.aio handlers without interceptor, call policy, domain or repositories, run on
uvloop like the services (python -m benchmarks.echo_server --port N [--check-dsn DSN] [--tax-dsn DSN]).

- Echo: returns its request bytes untouched; what a Python gRPC round trip costs on this machine.
- CheckSelect (with --check-dsn): the enrollment check's primary-key SELECT; returns the document's bytes.
- PayShape (with --tax-dsn): an applied NotifyPayment's own statements (payment_intake_sql, imported, so
  the shape cannot drift from the intake's): BEGIN; the read (order and items locked, earlier payment,
  request-id record, receipt number); the write (payment, items, order, freed order lines, family debit
  when there is one, receipt, outbox row, notification record, request-id record); COMMIT. Without the
  call policy, signature, parsing, the domain's decision or the unit of work.
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
import uvloop
from medins.collection.v1 import collection_service_pb2 as col
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk

from services.collection import intake_convert
from services.collection import payment_intake_sql as sql
from services.collection.channels.key_reload import channel_key_store
from services.collection.channels.verifiers import ChannelVerifiers
from services.collection.domain.family import LedgerEntryKind
from services.collection.domain.model import Channel, ItemStatus, OrderStatus, PaymentOutcome
from services.common.clock import SystemClock
from services.common.settings import load_settings

SERVICE = "medins.bench.v1.Echo"
METHOD = f"/{SERVICE}/Echo"
CHECK_SELECT = f"/{SERVICE}/CheckSelect"
PAY_SHAPE = f"/{SERVICE}/PayShape"
POOL_SIZE = 10  # the services' default pool (MEDINS_DB_POOL_MAX)
# A payment.confirmed envelope is about this size; its bytes do not matter to the relay or the broker.
ENVELOPE = bytes(320)
IDEMPOTENCY_METHOD = "NotifyPayment"
CALLER = "bench:ceiling"


async def _echo(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    return request


class Ceilings:
    """The two handlers that reach the database, on one pool."""

    def __init__(self, pool: asyncpg.Pool, verifier: ChannelVerifiers | None = None) -> None:
        self.pool = pool
        self.verifier = verifier

    async def check_select(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        number = chk.CheckEnrollmentRequest.FromString(request).target.resident_id_number
        doc = await self.pool.fetchval("SELECT doc FROM enrollment_check_index WHERE resident_id_number = $1", number)
        return b"" if doc is None else doc.encode()

    async def pay_shape(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        notification = col.NotifyPaymentRequest.FromString(request)
        # A WeChat Pay notification, as the load's: verified and decrypted by the channels' own code (R42),
        # as the intake does before its transaction.
        assert self.verifier is not None
        paid = self.verifier.verify(
            Channel.WECHAT, intake_convert.notification(notification).header_map, notification.payload, call=None
        )
        order_id, transaction, amount = paid.order_id, paid.transaction_id, paid.amount_fen
        channel = Channel.WECHAT.value
        async with self.pool.acquire() as conn, conn.transaction():
            read = sql.ReadParams(
                uuid.UUID(order_id), CALLER, IDEMPOTENCY_METHOD, notification.request_id, channel, transaction
            )
            rows = await conn.fetch(sql.READ.sql, *sql.READ.args(read))
            first = rows[0]
            if first["request_seen"]:
                return bytes(first["request_response"])
            applicable = (
                first["recorded_payment_id"] is None
                and first["order_status"] == OrderStatus.PENDING
                and first["order_total_fen"] == amount
                and all(r["status"] == ItemStatus.UNPAID for r in rows)
            )
            if not applicable:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "not applicable")
            payment_id, receipt = uuid.uuid4(), f"R{first['receipt_sequence']:012d}"
            response = col.NotifyPaymentResponse(
                outcome=col.NOTIFICATION_OUTCOME_APPLIED,
                payment_id=str(payment_id),
                order_id=order_id,
                receipt_number=receipt,
            ).SerializeToString()
            digest = hashlib.sha256(notification.payload).digest()
            now = dt.datetime.now(dt.UTC)
            await conn.fetchrow(
                sql.WRITE_APPLIED.sql,
                *sql.WRITE_APPLIED.args(
                    sql.PaymentParams(
                        payment_id,
                        uuid.UUID(order_id),
                        first["order_payer_id_number"],
                        channel,
                        transaction,
                        amount,
                        paid.paid_at,
                        PaymentOutcome.APPLIED.value,
                        digest,
                        now,
                    ),
                    sql.RequestParams(CALLER, IDEMPOTENCY_METHOD, notification.request_id, digest, response),
                    sql.PaymentRecordParams(digest, len(notification.payload), ""),
                    sql.AppliedParams(
                        item_ids=[r["payable_item_id"] for r in rows],
                        receipt_number=receipt,
                        event_id=uuid.uuid4(),
                        event_type="payment.confirmed",
                        event_envelope=ENVELOPE,
                        event_correlation_id=notification.request_id,
                        family_holder=None,
                        ledger_kind=LedgerEntryKind.DEBIT.value,
                        item_status=ItemStatus.PAID.value,
                        order_status=OrderStatus.PAID.value,
                    ),
                ),
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
            ceilings = Ceilings(pool, ChannelVerifiers(channel_key_store(load_settings()), SystemClock()))
            methods[name] = grpc.unary_unary_rpc_method_handler(getattr(ceilings, handler))
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
