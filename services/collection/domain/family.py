"""Family mutual-aid account bindings (绑定家庭共济关系, R46): who an account may pay for.

Xuancheng: "您如果符合绑定“职工医保门诊共济家庭账户”成员的条件,请按前文规定先进行绑定" — the employee who
holds the account binds family members first, each named by ID number and name (R18); a payment from
the account for anyone not bound to it is refused before anything is taken.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from services.collection.domain.agreements import Relationship
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.resident_id import mask


class LedgerEntryKind(enum.StrEnum):
    """A row of a family mutual-aid account's ledger (R20a): the balance the bureau reports, a payment's
    debit, a refund's credit."""

    SET = "SET"
    DEBIT = "DEBIT"
    CREDIT = "CREDIT"


@dataclass(frozen=True)
class FamilyMember:
    holder_id_number: str
    holder_name: str
    member_id_number: str
    member_name: str
    relationship: Relationship
    bound_at: dt.datetime


# Who may be bound to an account: a relative of the holder, never the holder (family_members.relationship).
MEMBER_RELATIONSHIPS = frozenset(Relationship) - {Relationship.SELF}


def check_holder_name(given: str, bound_as: str | None) -> None:
    """The holder is named as they first bound (R18): another name with the same ID is refused, with the
    same answer whoever asks, so the name is not revealed."""
    if bound_as is not None and bound_as != given:
        raise NotFound(
            "FAMILY_HOLDER_NOT_MATCHED",
            "the account holder's ID number and name do not match",
            "账户持有人证件号码与姓名不匹配",
            field="holder_name",
        )


def check_bindable(holder_id_number: str, member_id_number: str, relationship: Relationship) -> None:
    """A member is a relative of the holder, not the holder (who is named as R18 asks by the caller)."""
    if member_id_number == holder_id_number:
        raise FailedPrecondition(
            "FAMILY_MEMBER_IS_HOLDER",
            "the account holder is not bound to their own account; bind a family member",
            "账户持有人无需绑定本人,请绑定家庭成员",
            field="member_id_number",
        )
    if relationship not in MEMBER_RELATIONSHIPS:
        raise InvalidArgument(
            "INVALID_RELATIONSHIP",
            "a family member is the holder's parent, spouse, child or another relative",
            "请选择家庭成员与账户持有人的关系",
            field="relationship",
        )


def check_payable_from_account(holder_id_number: str, insured: Iterable[str], bound: Iterable[str]) -> None:
    """A family account pays only for members bound to it (R46): one unbound person refuses the whole
    payment, before the balance is looked at or anything is taken."""
    members = set(bound)
    unbound = sorted({number for number in insured if number not in members})
    if unbound:
        raise FailedPrecondition(
            "FAMILY_MEMBER_NOT_BOUND",
            f"{', '.join(mask(n) for n in unbound)} not bound to the family mutual-aid account of "
            f"{mask(holder_id_number)}; bind the family member first",
            "该参保人未绑定家庭共济关系,请先绑定家庭共济关系后再缴费",
            metadata={"unbound_count": len(unbound), "holder": mask(holder_id_number)},
        )
