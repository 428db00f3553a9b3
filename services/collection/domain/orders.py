"""Orders (订单), R19: one or more payable items, several years and fee types merged, one total."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from services.collection.domain.model import ItemStatus, OrderStatus, PayableItem
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.money import Fen

MAX_ITEMS_PER_ORDER = 100
# R19: a pending order lives until its expiry time, then expires and frees its items. The repository
# selects overdue orders by these values (status EXPIRING, expires_at <= now) and marks them EXPIRED.
EXPIRING = OrderStatus.PENDING
EXPIRED = OrderStatus.EXPIRED


def is_overdue(status: OrderStatus, expires_at: dt.datetime, now: dt.datetime) -> bool:
    """A pending order past its expiry time: it expires and its items are free again (R19)."""
    return status is EXPIRING and expires_at <= now


def checked_selection(item_ids: Sequence[str]) -> list[str]:
    """The requested item ids: at least one, at most 100, no repeats, well-formed."""
    if not item_ids:
        raise InvalidArgument(
            "FIELD_REQUIRED", "select at least one payable item", "请选择要缴费的明细", field="payable_item_ids"
        )
    if len(item_ids) > MAX_ITEMS_PER_ORDER:
        raise InvalidArgument(
            "TOO_MANY_ITEMS",
            f"at most {MAX_ITEMS_PER_ORDER} items per order",
            f"每笔订单最多{MAX_ITEMS_PER_ORDER}条缴费明细",
            field="payable_item_ids",
        )
    seen: set[str] = set()
    for item_id in item_ids:
        try:
            uuid.UUID(item_id)
        except ValueError:
            raise InvalidArgument(
                "INVALID_ITEM_ID", f"{item_id!r} is not a payable item id", "缴费明细编号无效", field="payable_item_ids"
            ) from None
        if item_id in seen:
            raise InvalidArgument(
                "DUPLICATE_ITEM", f"item {item_id} is selected twice", "同一缴费明细重复选择", field="payable_item_ids"
            )
        seen.add(item_id)
    return list(item_ids)


def check_payable(item: PayableItem, today: dt.date) -> None:
    """An item can go into a new order only while unpaid, unheld and still payable (R4, R19)."""
    if item.status is not ItemStatus.UNPAID:
        raise FailedPrecondition(
            "ITEM_NOT_PAYABLE",
            f"item {item.payable_item_id} is {item.status}",
            {
                ItemStatus.PAID: "该明细已缴费,无需重复缴纳",
                ItemStatus.SETTLED_BY_SUBSIDY: "该明细已由政府资助,无需缴费",
                ItemStatus.CANCELLED: "该明细已作废(已停保)",
            }.get(item.status, "该明细不可缴费"),
            metadata={"payable_item_id": item.payable_item_id, "status": item.status},
        )
    if today > item.payable_until:
        raise FailedPrecondition(
            "COLLECTION_WINDOW_CLOSED",
            f"item {item.payable_item_id} could be paid until {item.payable_until}",
            f"该明细缴费期已于{item.payable_until:%Y年%m月%d日}结束",
            metadata={"payable_item_id": item.payable_item_id, "payable_until": item.payable_until.isoformat()},
        )
    if item.pending_order_id:
        raise FailedPrecondition(
            "ITEM_IN_PENDING_ORDER",
            f"item {item.payable_item_id} is already in a pending order; it is free again when that order expires",
            "该明细已在待支付订单中,请完成支付或待订单失效后重新发起",
            metadata={"payable_item_id": item.payable_item_id},
        )


def order_total(items: Sequence[PayableItem]) -> Fen:
    """The order total: the exact integer sum of its items (R3)."""
    return Fen(sum(item.amount_fen for item in items))


def found_all(requested: Sequence[str], items: Sequence[PayableItem]) -> None:
    known = {i.payable_item_id for i in items}
    for item_id in requested:
        if item_id not in known:
            raise NotFound(
                "PAYABLE_ITEM_NOT_FOUND",
                f"payable item {item_id} not found",
                "缴费明细不存在",
                field="payable_item_ids",
                metadata={"payable_item_id": item_id},
            )


def check_reinitiable(status: OrderStatus, order_id: str) -> None:
    """Only an unpaid order can be started again (重新发起支付)."""
    if status is OrderStatus.PAID:
        raise FailedPrecondition(
            "ORDER_ALREADY_PAID", f"order {order_id} is paid", "该订单已支付", metadata={"order_id": order_id}
        )
