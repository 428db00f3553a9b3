"""The backbone end to end: RegisterResident → enrollment.registered via the outbox → the tax side
assesses → ListPayableItems returns the item (SPEC section 6, R17, R18)."""

from __future__ import annotations

import json

import grpc
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2

from services.common.logs import new_correlation_id
from services.common.resident_id import mask
from tests.e2e.clients import CollectionClient, RegistrationClient
from tests.e2e.requests import register
from tests.e2e.system import System
from tests.factories import unique_resident_id
from tests.support import eventually, refused


async def test_a_registration_becomes_a_payable_item_on_the_tax_side(
    registration: RegistrationClient, collection: CollectionClient
) -> None:
    number = unique_resident_id()
    reply = await registration.RegisterResident(register(number, name="张三"))
    assert reply.enrollment.state == common_pb2.ENROLLMENT_STATE_ACTIVE
    assert [y.insurance_year for y in reply.enrollment.years] == [2024]

    async def assessed() -> col.ListPayableItemsResponse:
        listed = await collection.ListPayableItems(
            col.ListPayableItemsRequest(payer_id_number=number, insured_id_number=number, insured_name="张三")
        )
        assert listed.payable_items
        return listed

    listed = await eventually(assessed)
    (item,) = listed.payable_items
    assert (item.insurance_year, item.fee_type, item.amount_fen) == (2024, common_pb2.FEE_TYPE_RESIDENT_MEDICAL, 38000)
    assert item.status == col.PAYABLE_ITEM_STATUS_UNPAID
    assert (item.payable_until.year, item.payable_until.month, item.payable_until.day) == (2023, 12, 31)


async def test_the_callers_correlation_id_reaches_the_tax_side_and_no_log_shows_a_full_id(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    number = unique_resident_id()
    correlation_id = f"e2e-{new_correlation_id()}"
    await registration.RegisterResident(register(number, name="周七"), metadata=(("x-correlation-id", correlation_id),))
    await eventually(
        lambda: collection.ListPayableItems(
            col.ListPayableItemsRequest(payer_id_number=number, insured_id_number=number, insured_name="周七")
        )
    )
    assessed = [
        json.loads(line)
        for line in system.log_text("assessment").splitlines()
        if correlation_id in line and '"items_assessed"' in line
    ]
    assert assessed and assessed[0]["resident"] == mask(number)
    for name in system.processes:
        assert number not in system.log_text(name), f"{name} logged a full resident ID number"


async def test_a_wrong_name_reveals_nothing(registration: RegistrationClient, collection: CollectionClient) -> None:
    number = unique_resident_id()
    await registration.RegisterResident(register(number, name="李四"))
    await eventually(
        lambda: collection.ListPayableItems(
            col.ListPayableItemsRequest(payer_id_number=number, insured_id_number=number, insured_name="李四")
        )
    )
    wrong_name = await refused(
        collection.ListPayableItems(
            col.ListPayableItemsRequest(payer_id_number=number, insured_id_number=number, insured_name="李五")
        )
    )
    unknown = await refused(
        collection.ListPayableItems(
            col.ListPayableItemsRequest(
                payer_id_number=number, insured_id_number=unique_resident_id(), insured_name="李四"
            )
        )
    )
    assert wrong_name.code == unknown.code == grpc.StatusCode.NOT_FOUND
    assert (wrong_name.reason, wrong_name.message) == (unknown.reason, unknown.message)


async def test_bad_input_names_the_field_and_writes_nothing(
    registration: RegistrationClient,
) -> None:
    number = unique_resident_id()
    bad = register(number[:-1] + ("0" if number[-1] != "0" else "1"))
    error = await refused(registration.RegisterResident(bad))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.reason, error.fields) == ("INVALID_RESIDENT_ID", ["resident_id_number"])
    assert "校验码错误" in error.localized

    unknown_category = register(number)
    unknown_category.category = 99  # type: ignore[assignment]
    error = await refused(registration.RegisterResident(unknown_category))
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_ENUM_VALUE")
    # Nothing was written: the valid person can still register.
    assert (await registration.RegisterResident(register(number))).enrollment.enrollment_id
