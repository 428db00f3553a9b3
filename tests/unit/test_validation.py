"""R34: every field of every request is checked at the edge against the rules declared next to it in
the protos, before any handler runs; errors name the field and never echo the value."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2, field_rules_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.registration.v1 import registration_service_pb2 as reg

from services.common.errors import InvalidArgument
from services.common.grpc_errors import to_status_proto
from services.common.money import MAX_AMOUNT_FEN
from services.common.text_rules import DIGITS, ID, NAME, TEXT, text_problem
from services.common.validation import element_refusal, malformed_request, validate

SERVICES = [
    reg.DESCRIPTOR.services_by_name["RegistrationService"],
    chk.DESCRIPTOR.services_by_name["EnrollmentCheckService"],
    col.DESCRIPTOR.services_by_name["CollectionService"],
]


def _refusal(request: object) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as refused:
        validate(request)  # type: ignore[arg-type]
    return refused.value


def _check(caller_id: str = "hospital-1", **target: object) -> chk.CheckEnrollmentRequest:
    return chk.CheckEnrollmentRequest(
        caller_id=caller_id,
        purpose=chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT,
        target=chk.CheckTarget(resident_id_number="340802200511250012", **target),  # type: ignore[arg-type]
    )


def test_a_well_formed_request_passes() -> None:
    validate(_check())
    validate(
        reg.RegisterResidentRequest(
            request_id="0b6c1c1e-3f43-4c59-9a49-1c1f6c7d1a2b",
            resident_id_number="34080220051125001X",
            name="欧阳 娜娜·买买提",
            phone="13800138000",
            region_code="340800",
            category=common_pb2.CATEGORY_MINOR,
        )
    )


def test_a_nul_in_the_caller_id_is_refused_with_the_field_and_no_echo() -> None:
    error = _refusal(_check("hospital\x00-1"))
    assert (error.reason, error.field) == ("CONTROL_CHARACTER", "caller_id")
    assert "hospital" not in error.message and "\x00" not in error.message


def test_a_nested_field_is_named_by_its_path() -> None:
    error = _refusal(_check(insurance_year=10_000))
    assert (error.reason, error.field) == ("OUT_OF_RANGE", "target.insurance_year")


def test_a_huge_value_is_refused_and_the_status_stays_small() -> None:
    error = _refusal(reg.RecordExternalEnrollmentRequest(request_id="r", name="名" * 4_000_000))
    assert (error.reason, error.field) == ("FIELD_TOO_LONG", "name")
    assert len(to_status_proto(error).SerializeToString()) < 2_000


@pytest.mark.parametrize("code", ["学校😀", "x" * 100_000, "AQ 1"])
def test_school_codes_are_short_ascii_codes(code: str) -> None:
    request = reg.CreateSchoolRequest(request_id="r", school=reg.School(school_code=code, name="安庆大学"))
    assert _refusal(request).field == "school.school_code"


def test_full_width_digits_are_not_a_region_code() -> None:
    request = reg.CreateRegionRequest(request_id="r", region=reg.Region(region_code="３４０８００", name="安庆市"))
    assert (_refusal(request).reason, _refusal(request).field) == ("INVALID_CHARACTERS", "region.region_code")


def test_a_full_width_digit_in_an_id_number_is_refused_saying_to_type_half_width() -> None:
    """R41 names a full-width digit a bad value: refused as an ID number fault, with what to type."""
    request = _check()
    request.target.resident_id_number = "３４０８０２２００５１１２５００１Ｘ"
    error = _refusal(request)
    assert (error.reason, error.field) == ("INVALID_RESIDENT_ID", "target.resident_id_number")
    assert error.metadata["full_width"] == "true" and "半角" in error.message_zh
    phone = reg.RegisterResidentRequest(request_id="r", phone="１３８００１３８０００")
    assert _refusal(phone).metadata.get("full_width") == "true"


def test_spaces_around_an_id_number_are_not_part_of_it() -> None:
    row = reg.RegisterResidentRequest(resident_id_number=" 34080220051125001x ")
    validate(row)
    assert row.resident_id_number == "34080220051125001X"


@pytest.mark.parametrize("number", ["340802 20051125001X", "34080220051125001\x00", "①40802200511250012", "3" * 33])
def test_every_fault_of_an_id_number_at_the_edge_is_invalid_resident_id(number: str) -> None:
    """One reason for a bad ID number whichever layer finds it (the domain names a wrong checksum so)."""
    request = _check()
    request.target.resident_id_number = number
    error = _refusal(request)
    assert (error.reason, error.field) == ("INVALID_RESIDENT_ID", "target.resident_id_number")
    assert "\x00" not in error.message and "20051125" not in error.message


def test_a_batch_element_is_refused_alone_with_its_own_field() -> None:
    rows = reg.BatchRegisterResidentsRequest(
        request_id="r",
        batch_id="b",
        submitter_code="S1",
        rows=[reg.RegistrationRow(row_number=1, name="名" * 65), reg.RegistrationRow(row_number=2, name="张三")],
    )
    validate(rows)  # the envelope: its size only
    first = element_refusal(rows.rows[0])
    assert first is not None and (first.reason, first.field) == ("FIELD_TOO_LONG", "name")
    assert element_refusal(rows.rows[1]) is None
    target = element_refusal(chk.CheckTarget(resident_id_number="34080220051125001 "), "targets[3].")
    assert target is None  # spaces around a number are not part of it
    spaced = element_refusal(chk.CheckTarget(resident_id_number="340802 20051125001"), "targets[3].")
    assert spaced is not None and spaced.field == "targets[3].resident_id_number"


@pytest.mark.parametrize(
    ("value", "chars", "reason"),
    [
        ("line\nbreak", TEXT, "CONTROL_CHARACTER"),
        ("a\ud83d", TEXT, "CONTROL_CHARACTER"),
        ("\u2028", TEXT, "CONTROL_CHARACTER"),
        ("张三😀", NAME, "INVALID_CHARACTERS"),
        ("<script>", NAME, "INVALID_CHARACTERS"),
        ("１２３", DIGITS, "INVALID_CHARACTERS"),
        ("id with space", ID, "INVALID_CHARACTERS"),
    ],
)
def test_character_classes(value: str, chars: int, reason: str) -> None:
    problem = text_problem(value, chars, 64)
    assert problem is not None and problem.reason == reason


def test_unknown_and_unspecified_enums() -> None:
    unknown = _check()
    unknown.purpose = 99  # type: ignore[assignment]
    assert (_refusal(unknown).reason, _refusal(unknown).field) == ("UNKNOWN_ENUM_VALUE", "purpose")
    unspecified = _check()
    unspecified.purpose = chk.CHECK_PURPOSE_UNSPECIFIED
    assert (_refusal(unspecified).reason, _refusal(unspecified).field) == ("FIELD_REQUIRED", "purpose")


def test_repeated_fields_are_capped() -> None:
    request = col.CreateOrderRequest(request_id="r", payer_id_number="x", payable_item_ids=["a"] * 201)
    assert (_refusal(request).reason, _refusal(request).field) == ("TOO_MANY_ITEMS", "payable_item_ids")


def test_amounts_above_the_declared_maximum_are_refused() -> None:
    request = col.UpdateFamilyAccountRequest(request_id="r", holder_id_number="x", balance_fen=MAX_AMOUNT_FEN + 1)
    assert (_refusal(request).reason, _refusal(request).field) == ("OUT_OF_RANGE", "balance_fen")


def test_several_bad_fields_are_all_named_up_to_a_bound() -> None:
    request = col.ImportChannelSettlementRequest(
        request_id="r", records=[col.SettlementRecord(channel_transaction_id="\x00", order_id="\x00")] * 50
    )
    error = _refusal(request)
    assert len(error.violations) == 10 and error.violations[1].field == "records[0].order_id"


def test_bytes_that_do_not_parse_are_a_malformed_request() -> None:
    error = malformed_request("medins.collection.v1.NotifyPaymentRequest")
    assert (error.reason, error.field) == ("MALFORMED_REQUEST", "request")


def _fields(descriptor: Descriptor, seen: set[str]) -> list[FieldDescriptor]:
    if descriptor.full_name in seen or descriptor.full_name.startswith("google."):
        return []
    seen.add(descriptor.full_name)
    found = list(descriptor.fields)
    for field in descriptor.fields:
        if field.message_type is not None:
            found += _fields(field.message_type, seen)
    return found


def _request_fields() -> list[FieldDescriptor]:
    seen: set[str] = set()
    return [f for s in SERVICES for m in s.methods for f in _fields(m.input_type, seen)]


def test_every_string_of_every_request_declares_its_rules() -> None:
    undeclared = [
        f.full_name
        for f in _request_fields()
        if f.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)
        and not f.GetOptions().HasExtension(field_rules_pb2.rules)
    ]
    assert undeclared == []


def test_every_amount_field_is_bounded_by_the_one_maximum() -> None:
    amounts = [f for f in _request_fields() if f.name.endswith("_fen")]
    assert amounts
    for field in amounts:
        rules = field.GetOptions().Extensions[field_rules_pb2.rules]
        assert (rules.min, rules.max) == (0, MAX_AMOUNT_FEN), field.full_name
