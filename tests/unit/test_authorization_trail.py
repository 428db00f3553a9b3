"""R35: the person trail names everyone whose ID number a mutating call's request or response carries."""

from __future__ import annotations

from medins.collection.v1 import collection_service_pb2 as col
from medins.registration.v1 import registration_service_pb2 as reg

from services.common.person_trail import persons_named
from tests.factories import unique_resident_id as resident_id


def test_a_batch_names_every_row_once_and_a_response_names_the_enrollment_it_changed() -> None:
    a, b = resident_id(), resident_id()
    batch = reg.BatchRegisterResidentsRequest(
        request_id="r",
        rows=[reg.RegistrationRow(resident_id_number=n) for n in (a, b, a)],
    )
    approved = reg.ApproveRegistrationResponse(enrollment=reg.Enrollment(resident_id_number=b))
    assert persons_named(batch, approved) == [a, b]


def test_payer_insured_and_minor_numbers_are_all_named() -> None:
    payer, minor = resident_id(), resident_id()
    link = col.LinkMinorRequest(request_id="r", payer_id_number=payer, minor_id_number=minor)
    assert persons_named(link) == [payer, minor]


def test_a_call_that_names_nobody_leaves_nothing() -> None:
    assert persons_named(reg.CreateRegionRequest(request_id="r", region=reg.Region(region_code="340800"))) == []
