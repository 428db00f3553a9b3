"""R5-R7, R13: who may enroll with what, and which years become payable."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from services.common.errors import DomainError, InvalidArgument
from services.common.periods import DateRange
from services.common.resident_id import parse_resident_id
from services.registration.domain.model import (
    Category,
    EnrollmentState,
    Evidence,
    EvidenceKind,
    Region,
    RegionPolicy,
    ReviewMode,
    School,
)
from services.registration.domain.regions import place_of
from services.registration.domain.registration import (
    check_against_policy,
    check_applicant,
    initial_state,
    newborn_deadline,
    years_to_assess,
)
from tests.factories import region_policy, resident_id

D = dt.date
ADULT_BIRTH = D(1980, 1, 1)
TODAY = D(2023, 11, 20)
HOUSEHOLD = Evidence(EvidenceKind.HOUSEHOLD_REGISTER, "doc-h")
PERMIT = Evidence(EvidenceKind.RESIDENCE_PERMIT, "doc-p")
LOW_INCOME = Evidence(EvidenceKind.LOW_INCOME_CERTIFICATE, "doc-l")
DISABILITY = Evidence(EvidenceKind.DISABILITY_CERTIFICATE, "doc-d")
POVERTY = Evidence(EvidenceKind.EXTREME_POVERTY_CERTIFICATE, "doc-e")
BIRTH = Evidence(EvidenceKind.BIRTH_CERTIFICATE, "doc-b")


ANQING = {
    2023: region_policy(2023, 35000),
    2024: region_policy(2024, 38000, subsidies={Category.HARDSHIP_EXTREME_POVERTY: 38000}),
}


def applicant(
    category: Category,
    evidence: tuple[Evidence, ...],
    *,
    birth: D = ADULT_BIRTH,
    today: D = TODAY,
    school: str | None = None,
    phone: str = "13800138000",
    name: str = "李四",
    region_policy: RegionPolicy | None = None,
) -> object:
    """Who may enroll with what, as the domain decides it: the applicant's own facts, then what the
    region's policy asks (the documents per category, R45; the elderly age)."""
    checked = check_applicant(
        resident_id=parse_resident_id(resident_id(birth), today=today),
        name=name,
        phone=phone,
        category=category,
        evidence=evidence,
        school_code=school,
        today=today,
    )
    check_against_policy(checked, region_policy or ANQING[2024], today)
    return checked


@pytest.mark.parametrize(
    ("category", "evidence"),
    [
        (Category.NON_EMPLOYED, (HOUSEHOLD,)),
        (Category.HARDSHIP_LOW_INCOME, (HOUSEHOLD, LOW_INCOME)),
        (Category.HARDSHIP_SEVERE_DISABILITY, (HOUSEHOLD, DISABILITY)),
        (Category.HARDSHIP_EXTREME_POVERTY, (HOUSEHOLD, POVERTY)),
        (Category.RESIDENCE_PERMIT_HOLDER, (PERMIT,)),
    ],
)
def test_each_category_is_accepted_with_its_evidence(category: Category, evidence: tuple[Evidence, ...]) -> None:
    assert applicant(category, evidence)


@pytest.mark.parametrize(
    ("category", "evidence", "missing"),
    [
        (Category.HARDSHIP_LOW_INCOME, (HOUSEHOLD,), "LOW_INCOME_CERTIFICATE"),
        (Category.HARDSHIP_SEVERE_DISABILITY, (HOUSEHOLD, LOW_INCOME), "DISABILITY_CERTIFICATE"),
        (Category.HARDSHIP_EXTREME_POVERTY, (POVERTY,), "HOUSEHOLD_REGISTER"),
        (Category.RESIDENCE_PERMIT_HOLDER, (HOUSEHOLD,), "RESIDENCE_PERMIT"),
        (Category.NON_EMPLOYED, (), "HOUSEHOLD_REGISTER"),
    ],
)
def test_missing_evidence_is_refused_naming_what_is_required(
    category: Category, evidence: tuple[Evidence, ...], missing: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        applicant(category, evidence)
    assert refused.value.reason == "EVIDENCE_MISSING"
    assert refused.value.field == "evidence"
    assert missing in refused.value.metadata["required"]


def test_a_newborn_may_show_a_birth_certificate_instead_of_the_household_register() -> None:
    assert applicant(Category.NEWBORN, (BIRTH,), birth=D(2023, 11, 15))


@pytest.mark.parametrize("phone", ["1380013800", "23800138000", "138001380001", "1280013800a", ""])
def test_a_phone_must_be_a_mainland_mobile_number(phone: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        applicant(Category.NON_EMPLOYED, (HOUSEHOLD,), phone=phone)
    assert refused.value.field == "phone"


def test_a_name_is_required() -> None:
    with pytest.raises(InvalidArgument) as refused:
        applicant(Category.NON_EMPLOYED, (HOUSEHOLD,), name="  ")
    assert refused.value.field == "name"


def test_a_college_student_registers_through_a_school() -> None:
    with pytest.raises(InvalidArgument) as refused:
        applicant(Category.COLLEGE_STUDENT, ())
    assert refused.value.reason == "SCHOOL_REQUIRED"
    assert applicant(Category.COLLEGE_STUDENT, (), school="CZ-S001")


def test_a_minor_must_be_under_eighteen() -> None:
    with pytest.raises(InvalidArgument) as refused:
        applicant(Category.MINOR, (HOUSEHOLD,), birth=D(2005, 11, 20))
    assert refused.value.reason == "CATEGORY_AGE_MISMATCH"
    assert applicant(Category.MINOR, (HOUSEHOLD,), birth=D(2005, 11, 21))


def test_the_newborn_category_ends_on_day_ninety() -> None:
    born = D(2023, 8, 22)
    assert newborn_deadline(born) == D(2023, 11, 20)
    assert applicant(Category.NEWBORN, (BIRTH,), birth=born, today=D(2023, 11, 20))
    with pytest.raises(InvalidArgument) as refused:
        applicant(Category.NEWBORN, (BIRTH,), birth=born, today=D(2023, 11, 21))
    assert refused.value.reason == "NEWBORN_PERIOD_PASSED"


def test_review_mode_decides_the_initial_state() -> None:
    assert initial_state(ReviewMode.AUTOMATIC) is EnrollmentState.ACTIVE
    assert initial_state(ReviewMode.MANUAL) is EnrollmentState.PENDING_REVIEW


def test_anqing_newborn_owes_this_year_from_birth_and_next_year() -> None:
    """SPEC scenario 1: born 15 Nov, registered 20 Nov 2023 → 350 for 2023 and 380 for 2024."""
    years = years_to_assess(
        category=Category.NEWBORN,
        birth_date=D(2023, 11, 15),
        registered_on=D(2023, 11, 20),
        policies=ANQING,
    )
    assert [(y.insurance_year, y.standard_fen, y.newborn_current_year) for y in years] == [
        (2023, 35000, True),
        (2024, 38000, False),
    ]
    current, following = years
    assert current.coverage == DateRange(D(2023, 11, 15), D(2023, 12, 31))
    assert current.payable == DateRange(D(2023, 11, 15), D(2024, 2, 13))
    assert following.coverage == DateRange(D(2024, 1, 1), D(2024, 12, 31))
    # R13a: next year too is payable until day 90, as for a newborn registered in January.
    assert following.payable == DateRange(D(2023, 9, 1), D(2024, 2, 13))


def test_a_newborn_registered_in_the_following_january_owes_both_years_until_day_ninety() -> None:
    years = years_to_assess(
        category=Category.NEWBORN,
        birth_date=D(2023, 11, 15),
        registered_on=D(2024, 1, 10),
        policies=ANQING,
    )
    assert [(y.insurance_year, y.payable.end) for y in years] == [(2023, D(2024, 2, 13)), (2024, D(2024, 2, 13))]


def test_an_ordinary_resident_owes_the_year_on_sale_only() -> None:
    years = years_to_assess(
        category=Category.NON_EMPLOYED,
        birth_date=D(1980, 1, 1),
        registered_on=D(2023, 11, 20),
        policies=ANQING,
    )
    assert [(y.insurance_year, y.standard_fen, y.subsidy_fen) for y in years] == [(2024, 38000, 0)]


def test_outside_every_window_nothing_is_payable_yet() -> None:
    assert (
        years_to_assess(
            category=Category.NON_EMPLOYED,
            birth_date=D(1980, 1, 1),
            registered_on=D(2024, 3, 1),
            policies=ANQING,
        )
        == []
    )


def test_a_fully_subsidised_category_owes_nothing_itself() -> None:
    (year,) = years_to_assess(
        category=Category.HARDSHIP_EXTREME_POVERTY,
        birth_date=D(1980, 1, 1),
        registered_on=D(2023, 11, 20),
        policies=ANQING,
    )
    assert year.subsidy_fen == year.standard_fen == 38000


ANQING_REGION = Region("340800", "安庆市")
SCHOOL = School("AQ-1", "安庆大学", "340800")


def test_a_school_places_the_registration_in_its_region() -> None:
    assert place_of(None, "AQ-1", {"340800": ANQING_REGION}, {"AQ-1": SCHOOL}) == (ANQING_REGION, SCHOOL)
    assert place_of("340800", None, {"340800": ANQING_REGION}, {}) == (ANQING_REGION, None)


@pytest.mark.parametrize(
    ("region", "school", "reason", "field"),
    [
        ("654000", "AQ-1", "SCHOOL_REGION_MISMATCH", "region_code"),
        (None, "NOPE", "SCHOOL_NOT_FOUND", "school_code"),
        ("999999", None, "REGION_NOT_FOUND", "region_code"),
        (None, None, "FIELD_REQUIRED", "region_code"),
    ],
)
def test_a_place_that_does_not_add_up_is_refused(
    region: str | None, school: str | None, reason: str, field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        place_of(region, school, {"340800": ANQING_REGION}, {"AQ-1": SCHOOL})
    assert (refused.value.reason, refused.value.field) == (reason, field)


# -- R45: the documents a region accepts; the elderly age as policy data (issue 19) ------------------------

XUANCHENG = replace(
    ANQING[2024],
    region_code="341800",
    evidence={c: (frozenset({EvidenceKind.HOUSEHOLD_REGISTER, EvidenceKind.RESIDENCE_PERMIT}),) for c in (
        Category.NON_EMPLOYED, Category.ELDERLY, Category.MINOR)},
)  # fmt: skip
NON_LOCAL = frozenset(
    {
        EvidenceKind.RESIDENCE_PERMIT,
        EvidenceKind.PROPERTY_CERTIFICATE,
        EvidenceKind.BUSINESS_LICENCE,
        EvidenceKind.LABOUR_CONTRACT,
        EvidenceKind.RENTAL_AGREEMENT,
    }
)


def test_xuancheng_takes_the_household_register_or_the_residence_permit() -> None:
    """Seed 001: 上传真实清晰的居民户口簿或居住证照片."""
    assert applicant(Category.NON_EMPLOYED, (PERMIT,), region_policy=XUANCHENG)
    assert applicant(Category.NON_EMPLOYED, (HOUSEHOLD,), region_policy=XUANCHENG)
    with pytest.raises(InvalidArgument) as refused:
        applicant(Category.NON_EMPLOYED, (PERMIT,))  # Anqing's default asks the household register
    assert refused.value.metadata["required"] == "HOUSEHOLD_REGISTER"


@pytest.mark.parametrize("kind", sorted(NON_LOCAL))
def test_anqing_accepts_any_proof_of_living_or_working_there(kind: EvidenceKind) -> None:
    """Seed 003: 非本市户籍但在我市常住人口,可依据居住证、房产证、营业执照、劳动合同或租房协议等认定."""
    anqing = replace(ANQING[2024], evidence={Category.RESIDENCE_PERMIT_HOLDER: (NON_LOCAL,)})
    assert applicant(Category.RESIDENCE_PERMIT_HOLDER, (Evidence(kind, "doc-1"),), region_policy=anqing)
    with pytest.raises(InvalidArgument) as refused:
        applicant(Category.RESIDENCE_PERMIT_HOLDER, (HOUSEHOLD,), region_policy=anqing)
    assert "房产证" in refused.value.message_zh and "租房协议" in refused.value.message_zh


def test_changzhou_asks_a_non_employed_resident_for_the_employment_registration_card() -> None:
    """Seed 000: 非从业居民:本人居民身份证、户口簿、经年度审验本人的《就业登记证》."""
    card = EvidenceKind.EMPLOYMENT_REGISTRATION_CARD
    changzhou = replace(
        ANQING[2024],
        region_code="320400",
        evidence={Category.NON_EMPLOYED: (frozenset({EvidenceKind.HOUSEHOLD_REGISTER}), frozenset({card}))},
    )
    with pytest.raises(InvalidArgument) as refused:
        applicant(Category.NON_EMPLOYED, (HOUSEHOLD,), region_policy=changzhou)
    assert (refused.value.reason, refused.value.metadata["required"]) == ("EVIDENCE_MISSING", card.value)
    assert "就业登记证" in refused.value.message_zh
    assert applicant(Category.NON_EMPLOYED, (HOUSEHOLD, Evidence(card, "jy-1")), region_policy=changzhou)


def test_the_elderly_age_is_the_regions() -> None:
    born_1965 = {"birth": D(1965, 1, 1)}  # 58 on 20 Nov 2023
    with pytest.raises(InvalidArgument) as refused:
        applicant(Category.ELDERLY, (HOUSEHOLD,), **born_1965)  # type: ignore[arg-type]
    assert refused.value.reason == "CATEGORY_AGE_MISMATCH" and "60" in refused.value.message_zh
    younger = replace(ANQING[2024], elderly_age=55)
    assert applicant(Category.ELDERLY, (HOUSEHOLD,), region_policy=younger, **born_1965)  # type: ignore[arg-type]
