"""R48 on the real tax database: a payment certificate is made from the items still paid, kept as issued,
and verifying it later marks a payment refunded since."""

from __future__ import annotations

import datetime as dt

import pytest

from services.collection.handlers.certificates import issue_certificate, verify_certificate
from services.collection.handlers.refunds import notify_refund_result, request_refund, submit_due_refunds
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.db import Pool
from services.common.errors import FailedPrecondition, NotFound
from tests.factories import resident_id
from tests.integration.test_cross_agency import CLOCK, _AcceptingGateway, items_of, pay, set_up
from tests.integration.test_family_bindings import assessed

D = dt.date


async def test_a_certificate_lists_the_paid_year_names_the_unpaid_one_and_marks_a_later_refund(
    insurance_pool: Pool, tax_pool: Pool
) -> None:
    await set_up(insurance_pool)
    number = resident_id(D(1980, 1, 1))
    await assessed(insurance_pool, tax_pool, number)
    ((item_id, _, _),) = await items_of(tax_pool, number)
    payment_id = await pay(tax_pool, number, [item_id])
    receipt = await tax_pool.fetchval("SELECT receipt_number FROM receipts")

    async with CollectionUnitOfWork(tax_pool) as uow:
        issued = await issue_certificate(number, [2027, 2026, 2027], "tax:desk-1", uow, CLOCK, lambda: "TESTTOKEN")
        await uow.commit()
    assert issued.certificate_number == "JFZM20261008TESTTOKEN"
    assert (issued.resident_name, issued.requested_years, issued.unpaid_years) == ("王五", (2026, 2027), (2026,))
    assert [(y.insurance_year, y.amount_fen, y.receipt_numbers) for y in issued.years] == [(2027, 40000, (receipt,))]

    async with CollectionUnitOfWork(tax_pool) as uow:
        verified = await verify_certificate(issued.certificate_number.lower(), uow)
    assert verified == issued

    async with CollectionUnitOfWork(tax_pool) as uow:
        await request_refund(payment_id, "officer-1", "paid by mistake", uow, CLOCK)
        await uow.commit()
    assert await submit_due_refunds(lambda: CollectionUnitOfWork(tax_pool), CLOCK, 10, _AcceptingGateway()) == 1
    async with CollectionUnitOfWork(tax_pool) as uow:
        refund_id = str(await tax_pool.fetchval("SELECT refund_id FROM refunds"))
        await notify_refund_result(refund_id, "WX-R-1", True, "", uow, CLOCK)
        await uow.commit()
    async with CollectionUnitOfWork(tax_pool) as uow:
        after_refund = await verify_certificate(issued.certificate_number, uow)
    assert [f.reversed_since_issue for f in after_refund.fees] == [True]
    assert after_refund.years[0].amount_fen == 40000, "what was certified stays as issued"

    with pytest.raises(FailedPrecondition) as nothing:
        async with CollectionUnitOfWork(tax_pool) as uow:
            await issue_certificate(number, [2027], "tax:desk-1", uow, CLOCK)
    assert nothing.value.reason == "NOTHING_PAID"
    assert await tax_pool.fetchval("SELECT count(*) FROM payment_certificates") == 1


async def test_an_unknown_person_or_number_is_not_found(tax_pool: Pool) -> None:
    with pytest.raises(NotFound) as unknown_person:
        async with CollectionUnitOfWork(tax_pool) as uow:
            await issue_certificate(resident_id(), [2027], "tax:desk-1", uow, CLOCK)
    assert unknown_person.value.reason == "NO_PAYMENT_RECORDS"
    with pytest.raises(NotFound) as unknown_number:
        async with CollectionUnitOfWork(tax_pool) as uow:
            await verify_certificate("JFZM20261008NOSUCHONE", uow)
    assert unknown_number.value.reason == "CERTIFICATE_NOT_FOUND"
