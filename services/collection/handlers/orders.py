"""Orders (R19) and the school's collective order (R28)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from services.collection.domain.model import FeeType, Order, OrderKind, OrderLine, OrderStatus, PayableItem
from services.collection.domain.orders import (
    check_payable,
    check_reinitiable,
    checked_selection,
    found_all,
    order_total,
)
from services.collection.ports import CollectionUow
from services.common.clock import Clock
from services.common.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound, required
from services.common.pagination import PageRequest
from services.common.resident_id import canonical, parse_resident_id

log = structlog.get_logger(__name__)

MAX_STUDENTS = 5_000


async def create_order(
    payer_id_number: str,
    item_ids: Sequence[str],
    uow: CollectionUow,
    clock: Clock,
    ttl: dt.timedelta,
    *,
    reinitiated_from: str | None = None,
    kind: OrderKind = OrderKind.PERSONAL,
) -> Order:
    """A pending order over the selected items, holding them until it is paid or expires (R19)."""
    now = clock.now()
    payer = parse_resident_id(payer_id_number, today=now.date(), field="payer_id_number")
    ids = checked_selection(item_ids)
    items = await _lock_payable(uow, ids, now)
    found_all(ids, items)
    for item in items:
        check_payable(item, now.date())
    return await _insert(uow, payer.number, kind, items, now, ttl, reinitiated_from=reinitiated_from)


async def _lock_payable(uow: CollectionUow, ids: Sequence[str], now: dt.datetime) -> list[PayableItem]:
    """Frees the items from orders already past expiry (whether or not the expiry worker got there),
    then locks them. Orders before items: the same order a payment takes its locks in."""
    await uow.orders.expire_overdue(now, limit=len(ids), item_ids=ids)
    return await uow.orders.lock_items(ids)


async def _insert(
    uow: CollectionUow,
    payer: str,
    kind: OrderKind,
    items: Sequence[PayableItem],
    now: dt.datetime,
    ttl: dt.timedelta,
    *,
    reinitiated_from: str | None = None,
    school_code: str | None = None,
) -> Order:
    order = Order(
        order_id=str(uuid.uuid4()),
        payer_id_number=payer,
        status=OrderStatus.PENDING,
        kind=kind,
        total_fen=order_total(items),
        lines=tuple(
            sorted(
                (
                    OrderLine(
                        i.payable_item_id,
                        i.resident_id_number,
                        i.insured_name,
                        i.insurance_year,
                        i.fee_type,
                        i.amount_fen,
                        i.coverage,
                    )
                    for i in items
                ),
                key=lambda line: (line.insured_id_number, line.insurance_year, line.fee_type),
            )
        ),
        created_at=now,
        expires_at=now + ttl,
        reinitiated_from=reinitiated_from,
        school_code=school_code,
    )
    if not await uow.orders.insert(order, items):
        raise FailedPrecondition(
            "ITEM_IN_PENDING_ORDER",
            "an item was put into another pending order at the same moment",
            "该明细已在待支付订单中,请完成支付或待订单失效后重新发起",
        )
    log.info("order_created", order_id=order.order_id, kind=kind, items=len(items), total_fen=order.total_fen)
    return order


async def payer_order(uow: CollectionUow, payer_id_number: str, order_id: str) -> Order:
    """An order of this payer; another payer's order is as good as absent."""
    order = await uow.orders.get(order_id)
    if order is None or order.payer_id_number != canonical(payer_id_number):
        raise NotFound(
            "ORDER_NOT_FOUND",
            f"order {order_id} not found",
            "订单不存在",
            field="order_id",
            metadata={"order_id": order_id},
        )
    return order


def orders_token(page: PageRequest, found: list[Order]) -> str:
    """The token of the page after `found` (see list_orders, which reads it back)."""
    return page.next_token((found[-1].created_at.isoformat(), found[-1].order_id), len(found)) if found else ""


async def list_orders(
    payer_id_number: str, status: OrderStatus | None, page: PageRequest, uow: CollectionUow
) -> list[Order]:
    """The payer's orders, newest first, optionally of one status; the page token is orders_token's."""
    cursor = page.cursor_of(2)
    return await uow.orders.list_for_payer(
        canonical(payer_id_number), status, (cursor[0], cursor[1]) if cursor else None, page.size
    )


async def reinitiate_order(
    payer_id_number: str, order_id: str, uow: CollectionUow, clock: Clock, ttl: dt.timedelta
) -> Order:
    """重新发起支付: a new pending order over the same items; a still-pending original is expired first."""
    await uow.orders.lock(order_id)  # a payment for it may be arriving: decide one after the other
    original = await payer_order(uow, payer_id_number, order_id)
    check_reinitiable(original.status, order_id)
    if original.status is OrderStatus.PENDING:
        await uow.orders.expire_now(order_id, clock.now())
    return await create_order(
        payer_id_number, [line.payable_item_id for line in original.lines], uow, clock, ttl, reinitiated_from=order_id
    )


@dataclass(frozen=True)
class Student:
    resident_id_number: str
    name: str
    # A field of the student broke its rule at the edge (R41): the student's result, not the order's.
    refusal: DomainError | None = None


def check_student_count(count: int) -> None:
    """1 to MAX_STUDENTS students: checked before any student is looked at (R41)."""
    if not count:
        raise InvalidArgument("FIELD_REQUIRED", "list at least one student", "学生名单不能为空", field="students")
    if count > MAX_STUDENTS:
        raise InvalidArgument(
            "TOO_MANY_STUDENTS",
            f"at most {MAX_STUDENTS} students per order",
            f"每笔最多{MAX_STUDENTS}名学生",
            field="students",
        )


@dataclass(frozen=True)
class StudentOutcome:
    resident_id_number: str
    item: PayableItem | None = None
    error: DomainError | None = None


async def create_school_order(
    payer_id_number: str,
    school_code: str,
    insurance_year: int,
    students: Sequence[Student],
    uow: CollectionUow,
    clock: Clock,
    ttl: dt.timedelta,
) -> tuple[Order | None, list[StudentOutcome]]:
    """学校统一代缴 (R28): one order over every listed student's unpaid medical item of the year; each
    student who cannot be included is reported with the reason, and nothing is paid twice."""
    now = clock.now()
    today = now.date()
    payer = parse_resident_id(payer_id_number, today=today, field="payer_id_number")
    school = required(school_code, "school_code", "学校代码")
    check_student_count(len(students))
    outcomes: list[StudentOutcome | None] = [None] * len(students)
    numbers: dict[str, int] = {}
    for i, student in enumerate(students):
        try:
            if student.refusal is not None:
                raise student.refusal
            number = parse_resident_id(student.resident_id_number, today=today, field="resident_id_number").number
            required(student.name, "name", "姓名")
            if number in numbers:
                raise InvalidArgument(
                    "DUPLICATE_STUDENT", "this student is listed twice", "名单中该学生重复", field="resident_id_number"
                )
            numbers[number] = i
        except DomainError as error:
            outcomes[i] = StudentOutcome(student.resident_id_number, error=error)
    candidates = await uow.items.unpaid_items_of(list(numbers), insurance_year, FeeType.RESIDENT_MEDICAL)
    names = await uow.items.names_of(list(numbers))
    locked = {
        i.payable_item_id: i for i in await _lock_payable(uow, [c.payable_item_id for c in candidates.values()], now)
    }
    included: list[PayableItem] = []
    for number, i in numbers.items():
        try:
            if names.get(number) != students[i].name.strip():
                raise NotFound(
                    "INSURED_PERSON_NOT_MATCHED",
                    "no insured person matches this ID number and name",
                    "证件号码与姓名不匹配,或该学生暂无参保缴费信息",
                    field="name",
                )
            candidate = candidates.get(number)
            item = locked.get(candidate.payable_item_id) if candidate else None
            if item is None:
                raise FailedPrecondition(
                    "NO_PAYABLE_ITEM",
                    f"nothing to pay for {insurance_year}",
                    f"该学生无{insurance_year}年度待缴费明细",
                    metadata={"insurance_year": insurance_year},
                )
            check_payable(item, today)
        except DomainError as error:
            outcomes[i] = StudentOutcome(number, error=error)
            continue
        included.append(item)
        outcomes[i] = StudentOutcome(number, item=item)
    order = (
        await _insert(uow, payer.number, OrderKind.SCHOOL_COLLECTIVE, included, now, ttl, school_code=school)
        if included
        else None
    )
    return order, [o for o in outcomes if o is not None]
