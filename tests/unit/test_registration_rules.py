"""R5-R7, R13: who may enroll with what, and which years become payable."""

from __future__ import annotations

import datetime as dt

import pytest

from services.common.errors import DomainError, InvalidArgument
from services.common.money import Fen
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
    check_applicant,
    initial_state,
    newborn_deadline,
    years_to_assess,
)
from tests.factories import resident_id

D = dt.date
ADULT_BIRTH = D(1980, 1, 1)
TODAY = D(2023, 11, 20)
HOUSEHOLD = Evidence(EvidenceKind.HOUSEHOLD_REGISTER, "doc-h")
PERMIT = Evidence(EvidenceKind.RESIDENCE_PERMIT, "doc-p")
LOW_INCOME = Evidence(EvidenceKind.LOW_INCOME_CERTIFICATE, "doc-l")
DISABILITY = Evidence(EvidenceKind.DISABILITY_CERTIFICATE, "doc-d")
POVERTY = Evidence(EvidenceKind.EXTREME_POVERTY_CERTIFICATE, "doc-e")
BIRTH = Evidence(EvidenceKind.BIRTH_CERTIFICATE, "doc-b")


def policy(year: int, standard: int, window: tuple[D, D], subsidies: dict[Category, Fen] | None = None) -> RegionPolicy:
    return RegionPolicy(
        region_code="340800",
        insurance_year=year,
        individual_standard_fen=Fen(standard),
        fiscal_subsidy_fen=Fen(0),
        newborn_standard_fen=Fen(standard),
        category_subsidies=subsidies or {},
        collection_window=DateRange(*window),
        benefit_period=DateRange(D(year, 1, 1), D(year, 12, 31)),
        review_mode=ReviewMode.AUTOMATIC,
        version=1,
    )


ANQING = {
    2023: policy(2023, 35000, (D(2022, 9, 1), D(2022, 12, 31))),
    2024: policy(2024, 38000, (D(2023, 9, 1), D(2023, 12, 31)), {Category.HARDSHIP_EXTREME_POVERTY: Fen(38000)}),
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
) -> object:
    return check_applicant(
        resident_id=parse_resident_id(resident_id(birth), today=today),
        name=name,
        phone=phone,
        category=category,
        evidence=evidence,
        school_code=school,
        today=today,
    )


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
