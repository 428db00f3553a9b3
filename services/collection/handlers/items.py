"""Tax-side use cases called over gRPC. Each runs in the caller's unit of work; the caller commits."""

from __future__ import annotations

from services.collection.domain.model import PayableItem
from services.collection.ports import CollectionUow
from services.common.clock import Clock
from services.common.errors import NotFound, required
from services.common.pagination import PageRequest
from services.common.resident_id import ResidentId, parse_resident_id


def _insured_not_matched() -> NotFound:
    # The same answer whether the ID is unknown or the name differs: the lookup reveals nothing (R18).
    return NotFound(
        "INSURED_PERSON_NOT_MATCHED",
        "no insured person with payable records matches this ID number and name",
        "证件号码与姓名不匹配,或该人员暂无参保缴费信息",
    )


async def identify_insured(
    uow: CollectionUow, clock: Clock, number: str, name: str, *, field_prefix: str = "insured"
) -> ResidentId:
    """R18: the payer names the insured person by ID number and name; both must match."""
    insured = parse_resident_id(number, today=clock.now().date(), field=f"{field_prefix}_id_number")
    given = required(name, f"{field_prefix}_name", "姓名")
    person = await uow.items.get_person(insured.number)
    check_named(person.name if person else None, given)
    return insured


def check_named(name_on_record: str | None, given: str) -> None:
    """R18: the name given must be the insured person's; an unknown person answers the same."""
    if name_on_record is None or name_on_record != given:
        raise _insured_not_matched()


def items_token(page: PageRequest, found: list[PayableItem]) -> str:
    """The token of the page after `found` (see list_payable_items, which reads it back)."""
    if not found:
        return ""
    return page.next_token((found[-1].insurance_year, found[-1].fee_type.value, found[-1].payable_item_id), len(found))


async def list_payable_items(
    payer_id_number: str,
    insured_id_number: str,
    insured_name: str,
    include_settled: bool,
    page: PageRequest,
    uow: CollectionUow,
    clock: Clock,
) -> list[PayableItem]:
    """The insured person's items for a payer paying for themselves or for another (为本人/为他人缴费);
    the page token is items_token's."""
    parse_resident_id(payer_id_number, today=clock.now().date(), field="payer_id_number")
    insured = parse_resident_id(insured_id_number, today=clock.now().date(), field="insured_id_number")
    given = required(insured_name, "insured_name", "姓名")
    cursor = (int(page.cursor[0]), str(page.cursor[1]), str(page.cursor[2])) if page.cursor else None
    # The person and the page in one statement; the name is compared after, and a mismatch answers as
    # an unknown person would (R18).
    found = await uow.items.items_of_person(
        insured.number, include_settled=include_settled, after=cursor, limit=page.size
    )
    check_named(found[0] if found else None, given)
    assert found is not None
    return found[1]
