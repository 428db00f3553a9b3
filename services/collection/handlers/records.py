"""Payment records (R25), linked minors (R26), family mutual-aid balances."""

from __future__ import annotations

import datetime as dt
import enum

from services.collection.domain.model import FamilyAccount, LinkedMinor, PaymentRecord
from services.collection.domain.records import RecordSelection, check_linkable_minor, record_selection
from services.collection.ports import CollectionUow
from services.common.clock import Clock
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound, required
from services.common.money import Fen
from services.common.pagination import PageRequest
from services.common.resident_id import parse_resident_id


class Scope(enum.StrEnum):
    MINE = "MINE"
    FOR_OTHERS = "FOR_OTHERS"
    LINKED_MINOR = "LINKED_MINOR"


async def list_payment_records(
    payer_id_number: str,
    scope: Scope,
    minor_id_number: str,
    fee_years: tuple[int, int] | None,
    paid_dates: tuple[dt.date, dt.date] | None,
    page: PageRequest,
    uow: CollectionUow,
    clock: Clock,
) -> tuple[RecordSelection, list[PaymentRecord]]:
    """已缴费查询: my own items (whoever paid), what I paid for others, or a linked minor's items; of the
    benefit years of a fee period (R47), or paid on the dates of a period (R25). The page token is
    records_token's."""
    today = clock.now().date()
    payer = parse_resident_id(payer_id_number, today=today, field="payer_id_number").number
    selection = record_selection(fee_years, paid_dates, today)
    insured: str | None = None
    paid_by: str | None = None
    if scope is Scope.MINE:
        insured = payer
    elif scope is Scope.FOR_OTHERS:
        paid_by = payer  # what the payer paid for others: their own items are left out
    else:
        minor = parse_resident_id(minor_id_number, today=today, field="minor_id_number").number
        if minor not in {m.minor_id_number for m in await uow.records.linked_minors(payer)}:
            raise FailedPrecondition(
                "MINOR_NOT_LINKED",
                "link the minor before querying their records",
                "请先添加该未成年人",
                field="minor_id_number",
            )
        insured = minor
    cursor = page.cursor_of(4)
    records = await uow.records.payment_records(
        payer=paid_by,
        insured=insured,
        selection=selection,
        after=(cursor[0], cursor[1], cursor[2], cursor[3]) if cursor else None,
        limit=page.size,
    )
    return selection, records


def records_token(page: PageRequest, found: list[PaymentRecord]) -> str:
    """The token of the page after `found` (see list_payment_records, which reads it back)."""
    if not found:
        return ""
    last = found[-1]
    return page.next_token(
        (last.insured_id_number, last.paid_at.isoformat(), last.payment_id, last.payable_item_id), len(found)
    )


async def link_minor(
    payer_id_number: str, minor_id_number: str, minor_name: str, uow: CollectionUow, clock: Clock
) -> LinkedMinor:
    """Links a minor (at most four, each under 16 now) so the payer can query their records (R26)."""
    now = clock.now()
    payer = parse_resident_id(payer_id_number, today=now.date(), field="payer_id_number").number
    minor = parse_resident_id(minor_id_number, today=now.date(), field="minor_id_number")
    name = required(minor_name, "minor_name", "未成年人姓名")
    known = await uow.items.get_person(minor.number)
    if known is not None and known.name != name:
        raise NotFound(
            "INSURED_PERSON_NOT_MATCHED",
            "the minor's ID number and name do not match",
            "证件号码与姓名不匹配",
        )
    await uow.records.lock_payer(payer, now)
    linked = await uow.records.linked_minors(payer)
    for existing in linked:
        if existing.minor_id_number == minor.number:
            return existing
    check_linkable_minor(minor, len(linked), now.date())
    created = LinkedMinor(minor.number, name, now)
    await uow.records.link_minor(payer, created)
    return created


async def unlink_minor(payer_id_number: str, minor_id_number: str, uow: CollectionUow, clock: Clock) -> LinkedMinor:
    today = clock.now().date()
    payer = parse_resident_id(payer_id_number, today=today, field="payer_id_number").number
    minor = parse_resident_id(minor_id_number, today=today, field="minor_id_number").number
    await uow.records.lock_payer(payer, clock.now())
    linked = {m.minor_id_number: m for m in await uow.records.linked_minors(payer)}
    if minor not in linked or not await uow.records.unlink_minor(payer, minor):
        raise NotFound("MINOR_NOT_LINKED", "this minor is not linked", "未添加该未成年人", field="minor_id_number")
    return linked[minor]


async def linked_minors(payer_id_number: str, uow: CollectionUow, clock: Clock) -> list[LinkedMinor]:
    payer = parse_resident_id(payer_id_number, today=clock.now().date(), field="payer_id_number").number
    return await uow.records.linked_minors(payer)


async def family_account(holder_id_number: str, uow: CollectionUow, clock: Clock) -> FamilyAccount:
    holder = parse_resident_id(holder_id_number, today=clock.now().date(), field="holder_id_number").number
    account = await uow.payments.family_account(holder)
    if account is None:
        raise NotFound(
            "FAMILY_ACCOUNT_NOT_FOUND", "no family mutual-aid account", "未绑定家庭共济账户", field="holder_id_number"
        )
    return account


async def update_family_account(
    holder_id_number: str, balance_fen: int, uow: CollectionUow, clock: Clock
) -> FamilyAccount:
    """Records the balance the insurance bureau's account system reports (stand-in for its gateway)."""
    now = clock.now()
    holder = parse_resident_id(holder_id_number, today=now.date(), field="holder_id_number").number
    if balance_fen < 0:
        raise InvalidArgument("INVALID_AMOUNT", "balance must not be negative", "余额不能为负数", field="balance_fen")
    return await uow.payments.set_family_account(holder, Fen(balance_fen), now)
