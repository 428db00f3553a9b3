"""R46: a family mutual-aid account pays only for the members bound to it (绑定家庭共济关系)."""

from __future__ import annotations

import pytest

from services.collection.domain.agreements import Relationship
from services.collection.domain.family import check_bindable, check_holder_name, check_payable_from_account
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from tests.factories import resident_id

HOLDER, CHILD, SPOUSE = resident_id(), resident_id(), resident_id()


def test_a_payment_for_bound_members_only_passes() -> None:
    check_payable_from_account(HOLDER, [CHILD, SPOUSE, CHILD], [SPOUSE, CHILD])


def test_one_unbound_person_refuses_the_whole_payment_saying_to_bind_first() -> None:
    """Xuancheng: "请按前文规定先进行绑定"."""
    with pytest.raises(FailedPrecondition) as refused:
        check_payable_from_account(HOLDER, [CHILD, SPOUSE], [CHILD])
    error = refused.value
    assert error.reason == "FAMILY_MEMBER_NOT_BOUND"
    assert "请先绑定家庭共济关系" in error.message_zh
    assert error.metadata["unbound_count"] == "1"
    # Named masked, never in clear.
    assert SPOUSE not in error.message and SPOUSE[:6] in error.message


def test_the_holder_is_not_bound_to_their_own_account() -> None:
    with pytest.raises(FailedPrecondition) as refused:
        check_bindable(HOLDER, HOLDER, Relationship.SPOUSE)
    assert refused.value.reason == "FAMILY_MEMBER_IS_HOLDER"
    with pytest.raises(FailedPrecondition):
        check_payable_from_account(HOLDER, [HOLDER], [])


def test_a_member_is_a_relative_not_self() -> None:
    for relative in (Relationship.PARENT, Relationship.SPOUSE, Relationship.CHILD, Relationship.OTHER_RELATIVE):
        check_bindable(HOLDER, CHILD, relative)
    with pytest.raises(InvalidArgument) as refused:
        check_bindable(HOLDER, CHILD, Relationship.SELF)
    assert refused.value.field == "relationship"


def test_the_holder_is_named_as_they_first_bound() -> None:
    check_holder_name("王大", None)
    check_holder_name("王大", "王大")
    with pytest.raises(NotFound) as refused:
        check_holder_name("王二", "王大")
    assert (refused.value.reason, refused.value.field) == ("FAMILY_HOLDER_NOT_MATCHED", "holder_name")
    assert "王大" not in refused.value.message
