"""A payer's electronic payment receipt (电子缴款凭证, R24): by its number, or by the order it paid."""

from __future__ import annotations

from services.collection.domain.model import Receipt
from services.collection.handlers.orders import payer_order
from services.collection.ports import CollectionUow
from services.common.errors import FailedPrecondition, NotFound
from services.common.resident_id import canonical


async def payer_receipt(
    payer_id_number: str, receipt_number: str | None, order_id: str | None, uow: CollectionUow
) -> Receipt:
    """The payer's receipt; an order of the payer's not paid yet has none (RECEIPT_NOT_AVAILABLE)."""
    receipt = await uow.payments.receipt(canonical(payer_id_number), number=receipt_number, order_id=order_id)
    if receipt is not None:
        return receipt
    if order_id is not None:
        order = await payer_order(uow, payer_id_number, order_id)
        raise FailedPrecondition(
            "RECEIPT_NOT_AVAILABLE",
            f"order {order.order_id} is not paid; a receipt exists only for a completed payment",
            "缴费尚未完成,暂不能打印电子缴款凭证",
            metadata={"order_id": order.order_id},
        )
    raise NotFound("RECEIPT_NOT_FOUND", "receipt not found", "缴款凭证不存在", field="receipt_number")
