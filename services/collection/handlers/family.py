"""Family mutual-aid account bindings (R46): bind, unbind, list; and the payment path's check."""

from __future__ import annotations

from collections.abc import Sequence

from services.collection.domain.agreements import Relationship
from services.collection.domain.family import (
    FamilyMember,
    check_bindable,
    check_holder_name,
    check_payable_from_account,
)
from services.collection.handlers.items import identify_insured
from services.collection.ports import CollectionUow
from services.common.clock import Clock
from services.common.errors import NotFound, required
from services.common.resident_id import parse_resident_id


async def bind_member(
    holder_id_number: str,
    holder_name: str,
    member_id_number: str,
    member_name: str,
    relationship: Relationship,
    uow: CollectionUow,
    clock: Clock,
) -> FamilyMember:
    """绑定家庭共济关系: the holder (ID and name) binds a family member (ID and name, as R18 identifies an
    insured person). Binding a member already bound answers the existing binding."""
    now = clock.now()
    holder = parse_resident_id(holder_id_number, today=now.date(), field="holder_id_number").number
    name = required(holder_name, "holder_name", "账户持有人姓名")
    member = await identify_insured(uow, clock, member_id_number, member_name, field_prefix="member")
    check_bindable(holder, member.number, relationship)
    check_holder_name(name, await uow.family.lock_holder(holder, name, now))
    for existing in await uow.family.members(holder):
        if existing.member_id_number == member.number:
            return existing
    bound = FamilyMember(holder, name, member.number, member_name.strip(), relationship, now)
    await uow.family.bind(bound)
    return bound


async def unbind_member(
    holder_id_number: str, holder_name: str, member_id_number: str, uow: CollectionUow, clock: Clock
) -> FamilyMember:
    today = clock.now().date()
    holder = parse_resident_id(holder_id_number, today=today, field="holder_id_number").number
    name = required(holder_name, "holder_name", "账户持有人姓名")
    member = parse_resident_id(member_id_number, today=today, field="member_id_number").number
    bound_as = await uow.family.locked_holder_name(holder)
    check_holder_name(name, bound_as)
    bound = {m.member_id_number: m for m in await uow.family.members(holder)} if bound_as else {}
    if member not in bound or not await uow.family.unbind(holder, member):
        raise NotFound(
            "FAMILY_MEMBER_NOT_BOUND",
            "this person is not bound to the family mutual-aid account",
            "该人员未绑定家庭共济关系",
            field="member_id_number",
        )
    return bound[member]


async def members(holder_id_number: str, uow: CollectionUow, clock: Clock) -> list[FamilyMember]:
    holder = parse_resident_id(holder_id_number, today=clock.now().date(), field="holder_id_number").number
    return await uow.family.members(holder)


async def check_account_pays_for(uow: CollectionUow, holder: str, insured: Sequence[str]) -> None:
    """The payment path's check (R46), before the balance is read or anything is taken."""
    check_payable_from_account(holder, insured, await uow.family.bound_among(holder, insured))
