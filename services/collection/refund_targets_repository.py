"""What a channel's refund API needs of the payment a refund returns (R23): its order, the channel's
transaction id and the amount paid."""

from __future__ import annotations

import uuid

from services.collection.domain.model import Refund
from services.collection.gateways.channel_apis.ports import RefundRequest
from services.common.db import Pool
from services.common.money import Fen


async def refund_request(pool: Pool, refund: Refund) -> RefundRequest:
    row = await pool.fetchrow(
        "SELECT order_id, channel_transaction_id, amount_fen FROM payments WHERE payment_id = $1",
        uuid.UUID(refund.payment_id),
    )
    if row is None or row["order_id"] is None:
        raise LookupError(f"refund {refund.refund_id}: payment {refund.payment_id} has no channel order")
    return RefundRequest(
        refund.refund_id,
        str(row["order_id"]),
        row["channel_transaction_id"],
        refund.amount_fen,
        Fen(row["amount_fen"]),
        str(refund.reason),
    )
