"""Payment certificates (缴费证明, R48): issue one for chosen benefit years; verify one by its number."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from services.collection.domain.certificates import (
    PaymentCertificate,
    certificate_number,
    check_something_paid,
    chosen_years,
)
from services.collection.ports import CollectionUow
from services.common.clock import Clock
from services.common.errors import NotFound, required
from services.common.resident_id import parse_resident_id

# 16 characters of an alphabet without look-alikes (no 0/O, 1/I/L): 80 bits, read aloud and typed back.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def random_token(length: int = 16) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


async def issue_certificate(
    resident_id_number: str,
    years: Sequence[int],
    issued_by: str,
    uow: CollectionUow,
    clock: Clock,
    token: Callable[[], str] = random_token,
) -> PaymentCertificate:
    """Every paid item of the chosen years, kept under a new number; refused when nothing is paid."""
    now = clock.now()
    resident = parse_resident_id(resident_id_number, today=now.date(), field="resident_id_number").number
    chosen = chosen_years(years, now.date())
    person = await uow.items.get_person(resident)
    if person is None:
        raise NotFound(
            "NO_PAYMENT_RECORDS",
            "the tax side has no payment records of this person",
            "该人员暂无参保缴费信息",
            field="resident_id_number",
        )
    fees = await uow.certificates.paid_fees(resident, chosen)
    check_something_paid(fees, chosen)
    certificate = PaymentCertificate(
        certificate_number=certificate_number(now.date(), token()),
        resident_id_number=resident,
        resident_name=person.name,
        requested_years=chosen,
        fees=tuple(fees),
        issued_at=now,
        issued_by=issued_by,
    )
    await uow.certificates.save(certificate)
    return certificate


async def verify_certificate(number: str, uow: CollectionUow) -> PaymentCertificate:
    given = required(number, "certificate_number", "缴费证明编号").upper()
    certificate = await uow.certificates.load(given)
    if certificate is None:
        raise NotFound(
            "CERTIFICATE_NOT_FOUND",
            "no payment certificate has this number",
            "该缴费证明编号不存在,请核对后重试",
            field="certificate_number",
        )
    return certificate
