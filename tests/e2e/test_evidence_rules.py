"""R45 through the real processes: the documents each region accepts, as the seeds' pages say, loaded
with the demo data (ops/demo_data.py EVIDENCE)."""

from __future__ import annotations

import datetime as dt

import grpc
from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as reg

from tests.e2e.clients import RegistrationClient
from tests.e2e.requests import create_region, new_request_id, policy, register
from tests.factories import resident_id
from tests.support import refused

D = dt.date


def doc(kind: reg.EvidenceKind.ValueType, ref: str) -> reg.Evidence:
    return reg.Evidence(kind=kind, document_ref=ref)


HOUSEHOLD = doc(reg.EVIDENCE_KIND_HOUSEHOLD_REGISTER, "hk-r45")


async def test_changzhou_asks_the_non_employed_for_the_employment_registration_card(
    registration: RegistrationClient,
) -> None:
    """Seed 000: ④“非从业居民”:本人居民身份证、户口簿、经年度审验本人的《就业登记证》."""
    number = resident_id(D(1981, 6, 1), "320402")
    error = await refused(registration.RegisterResident(register(number, region="320400", evidence=[HOUSEHOLD])))
    assert (error.code, error.reason, error.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "EVIDENCE_MISSING",
        ["evidence"],
    )
    assert "就业登记证" in error.localized
    card = doc(reg.EVIDENCE_KIND_EMPLOYMENT_REGISTRATION_CARD, "jy-r45")
    done = await registration.RegisterResident(register(number, region="320400", evidence=[HOUSEHOLD, card]))
    assert done.enrollment.state == common_pb2.ENROLLMENT_STATE_ACTIVE


async def test_anqing_accepts_a_rental_agreement_from_a_resident_registered_elsewhere(
    registration: RegistrationClient,
) -> None:
    """Seed 003: 非本市户籍但在我市常住人口,可依据居住证、房产证、营业执照、劳动合同或租房协议等认定."""
    number = resident_id(D(1985, 3, 3), "110101")
    category = common_pb2.CATEGORY_RESIDENCE_PERMIT_HOLDER
    error = await refused(registration.RegisterResident(register(number, category=category, evidence=[HOUSEHOLD])))
    assert error.reason == "EVIDENCE_MISSING" and "租房协议" in error.localized
    rental = doc(reg.EVIDENCE_KIND_RENTAL_AGREEMENT, "zf-r45")
    done = await registration.RegisterResident(register(number, category=category, evidence=[rental]))
    assert done.enrollment.state == common_pb2.ENROLLMENT_STATE_ACTIVE


async def test_xuancheng_takes_the_residence_permit_photo_instead_of_the_household_register(
    registration: RegistrationClient,
) -> None:
    """Seed 001: 上传真实清晰的居民户口簿或居住证照片 (Xuancheng reviews by hand: pending review)."""
    number = resident_id(D(1979, 9, 9), "341802")
    permit = doc(reg.EVIDENCE_KIND_RESIDENCE_PERMIT, "jzz-r45")
    done = await registration.RegisterResident(register(number, region="341800", evidence=[permit]))
    assert done.enrollment.state == common_pb2.ENROLLMENT_STATE_PENDING_REVIEW


def row(
    number: int,
    resident: str,
    evidence: list[reg.Evidence],
    category: common_pb2.Category.ValueType = common_pb2.CATEGORY_NON_EMPLOYED,
    **where: str,
) -> reg.RegistrationRow:
    return reg.RegistrationRow(
        row_number=number,
        resident_id_number=resident,
        name="批量材料",
        phone="13800138000",
        category=category,
        evidence=evidence,
        **where,
    )


async def test_a_batch_and_a_school_are_checked_against_their_regions_documents(
    registration: RegistrationClient,
) -> None:
    """R45 through batch registration (R9), the same rules as a single one. Seed 000 (Changzhou):
    ④“非从业居民”:本人居民身份证、户口簿、经年度审验本人的《就业登记证》 — a village committee's row without
    the card is refused naming it, the row with it is registered. Seed 001 (Xuancheng): 依次正确选择->医保区划
    或学校基本信息->…->上传真实清晰的居民户口簿或居住证照片 — a pupil's row submitted by a school of Xuancheng
    (its region taken from the school) with the residence permit alone is accepted for review."""
    card = doc(reg.EVIDENCE_KIND_EMPLOYMENT_REGISTRATION_CARD, "jy-r45-batch")
    permit = doc(reg.EVIDENCE_KIND_RESIDENCE_PERMIT, "jzz-r45-batch")
    without, with_card = resident_id(D(1983, 4, 4), "320402"), resident_id(D(1984, 5, 5), "320402")
    village = await registration.BatchRegisterResidents(
        reg.BatchRegisterResidentsRequest(
            request_id=new_request_id(),
            batch_id=f"r45-changzhou-{new_request_id()}",
            submitter_code="CZ-V045",
            rows=[
                row(1, without, [HOUSEHOLD], region_code="320400"),
                row(2, with_card, [HOUSEHOLD, card], region_code="320400"),
            ],
        )
    )
    refused_row, registered_row = village.results
    assert (refused_row.outcome, refused_row.error.reason, refused_row.error.field) == (
        reg.ROW_OUTCOME_REFUSED,
        "EVIDENCE_MISSING",
        "evidence",
    )
    assert "就业登记证" in refused_row.error.message
    assert registered_row.outcome == reg.ROW_OUTCOME_REGISTERED and registered_row.enrollment_id

    pupil_id = resident_id(D(2012, 6, 6), "341802")
    school = await registration.BatchRegisterResidents(
        reg.BatchRegisterResidentsRequest(
            request_id=new_request_id(),
            batch_id=f"r45-xuancheng-{new_request_id()}",
            submitter_code="XC-S001",
            rows=[row(1, pupil_id, [permit], common_pb2.CATEGORY_MINOR, school_code="XC-S001")],
        )
    )
    (pupil,) = school.results
    assert pupil.outcome == reg.ROW_OUTCOME_PENDING_REVIEW and pupil.enrollment_id, pupil


ELDERLY_REGION = "349945"


async def test_the_elderly_age_is_the_regions_policy(registration: RegistrationClient) -> None:
    """Issue 19: the age from which one enrols as elderly is policy data; no seed names it (seed 000 lists
    ①“老年居民”:本人居民身份证、户口簿 without an age), so a region without one takes 60. A 57-year-old is
    refused as elderly in Anqing and registered as elderly in a region whose policy says 55."""
    window = (D(2023, 9, 1), D(2023, 12, 31))
    younger = policy(ELDERLY_REGION, 2024, 38000, window)
    younger.elderly_age = 55
    await create_region(registration, ELDERLY_REGION, "老年年龄测试市", younger)
    stored = await registration.GetRegionPolicy(
        reg.GetRegionPolicyRequest(region_code=ELDERLY_REGION, insurance_year=2024)
    )
    assert stored.policy.elderly_age == 55
    elderly = common_pb2.CATEGORY_ELDERLY
    in_anqing = resident_id(D(1966, 1, 1), "340802")  # 57 on 20 November 2023
    error = await refused(registration.RegisterResident(register(in_anqing, category=elderly)))
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "CATEGORY_AGE_MISMATCH")
    assert "60" in error.localized
    there = resident_id(D(1966, 1, 1), "349945")
    done = await registration.RegisterResident(register(there, region=ELDERLY_REGION, category=elderly))
    assert (done.enrollment.state, done.enrollment.category) == (common_pb2.ENROLLMENT_STATE_ACTIVE, elderly)


VERSIONED_REGION = "349946"


async def test_a_changed_evidence_rule_is_a_new_policy_version_and_registration_follows_it(
    registration: RegistrationClient,
) -> None:
    """R45 (issue 19 item 1): the documents are versioned with the policy. A region first taking the
    national default for the non-employed (the household register), then asking also for the card
    Changzhou asks for (seed 000: ④“非从业居民”:本人居民身份证、户口簿、经年度审验本人的《就业登记证》): the new
    version governs the next registration; the first version still says what it said."""
    window = (D(2023, 9, 1), D(2023, 12, 31))
    first = policy(VERSIONED_REGION, 2024, 38000, window)
    await create_region(registration, VERSIONED_REGION, "材料版本测试市", first)
    before = resident_id(D(1987, 7, 7), VERSIONED_REGION)
    done = await registration.RegisterResident(register(before, region=VERSIONED_REGION))
    assert done.enrollment.state == common_pb2.ENROLLMENT_STATE_ACTIVE

    card = reg.EVIDENCE_KIND_EMPLOYMENT_REGISTRATION_CARD
    second = policy(VERSIONED_REGION, 2024, 38000, window)
    second.evidence_rules.append(
        reg.EvidenceRule(
            category=common_pb2.CATEGORY_NON_EMPLOYED,
            groups=[
                reg.EvidenceGroup(any_of=[reg.EVIDENCE_KIND_HOUSEHOLD_REGISTER]),
                reg.EvidenceGroup(any_of=[card]),
            ],
        )
    )
    changed = await registration.SetRegionPolicy(reg.SetRegionPolicyRequest(request_id=new_request_id(), policy=second))
    current = await registration.GetRegionPolicy(
        reg.GetRegionPolicyRequest(region_code=VERSIONED_REGION, insurance_year=2024)
    )
    assert current.policy.version == changed.policy.version > 1
    assert [list(g.any_of) for g in current.policy.evidence_rules[0].groups] == [
        [reg.EVIDENCE_KIND_HOUSEHOLD_REGISTER],
        [card],
    ]
    old = await registration.GetRegionPolicy(
        reg.GetRegionPolicyRequest(region_code=VERSIONED_REGION, insurance_year=2024, version=1)
    )
    assert not old.policy.evidence_rules

    after = resident_id(D(1988, 8, 8), VERSIONED_REGION)
    error = await refused(registration.RegisterResident(register(after, region=VERSIONED_REGION)))
    assert (error.reason, error.fields) == ("EVIDENCE_MISSING", ["evidence"]) and "就业登记证" in error.localized
    with_card = register(after, region=VERSIONED_REGION, evidence=[HOUSEHOLD, doc(card, "jy-r45-v2")])
    assert (await registration.RegisterResident(with_card)).enrollment.state == common_pb2.ENROLLMENT_STATE_ACTIVE
