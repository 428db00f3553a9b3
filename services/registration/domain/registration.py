"""New enrollment (新参保登记): who may enroll with what evidence (R5, R6), review (R7), and which
insurance years become payable, newborns included (R13)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace

from services.common.errors import InvalidArgument
from services.common.money import Fen
from services.common.periods import DateRange
from services.common.resident_id import ResidentId
from services.registration.domain.evidence_rules import check_evidence, required_evidence
from services.registration.domain.model import (
    Category,
    Enrollment,
    EnrollmentState,
    Evidence,
    Region,
    RegionPolicy,
    ReviewMode,
    WaitExemption,
)
from services.registration.domain.policy import governing_policy, on_sale, sale_period, subsidy_for, wait_free_until
from services.registration.domain.waiting import exempt_when_registering

NEWBORN_DAYS = 90
ADULT_AGE = 18
MAX_NAME_LENGTH = 50
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


@dataclass(frozen=True)
class Applicant:
    """A validated registration request."""

    resident_id: ResidentId
    name: str
    phone: str
    category: Category
    evidence: tuple[Evidence, ...]
    school_code: str | None
    wait_exemption: WaitExemption | None = None


@dataclass(frozen=True)
class YearAssessment:
    """One insurance year made payable: the figures the tax side assesses from (R17)."""

    insurance_year: int
    policy_version: int
    standard_fen: Fen
    subsidy_fen: Fen
    collection_window: DateRange
    coverage: DateRange
    payable: DateRange
    newborn_current_year: bool
    # R37: the last day a payment needs no wait (None: a year sold on the rules before 2025).
    wait_free_until: dt.date | None = None
    # R49: channels that take payments only from a later day.
    channel_openings: tuple[tuple[str, dt.date], ...] = ()


def check_applicant(
    *,
    resident_id: ResidentId,
    name: str,
    phone: str,
    category: Category,
    evidence: tuple[Evidence, ...],
    school_code: str | None,
    today: dt.date,
    field_prefix: str = "",
) -> Applicant:
    """Validates name, phone, evidence and category against age; raises INVALID_ARGUMENT naming the field."""
    name = name.strip()
    if not name:
        raise _invalid("FIELD_REQUIRED", f"{field_prefix}name", "name is required", "姓名不能为空")
    if len(name) > MAX_NAME_LENGTH:
        raise _invalid("INVALID_NAME", f"{field_prefix}name", f"name is longer than {MAX_NAME_LENGTH}", "姓名过长")
    phone = phone.strip()
    if not _MOBILE.fullmatch(phone):
        raise _invalid(
            "INVALID_PHONE",
            f"{field_prefix}phone",
            "phone must be an 11-digit mainland mobile number starting 13-19",
            "手机号码格式不正确,应为11位手机号码",
        )
    for item in evidence:
        if not item.document_ref.strip():
            raise _invalid(
                "FIELD_REQUIRED", f"{field_prefix}evidence.document_ref", "document_ref is required", "材料编号不能为空"
            )
    if category is Category.COLLEGE_STUDENT and not school_code:
        raise _invalid(
            "SCHOOL_REQUIRED",
            f"{field_prefix}school_code",
            "college students register through their school: give school_code",
            "高校大学生须由所在学校办理参保,请填写学校代码",
        )
    age = resident_id.age_on(today)
    if category in (Category.MINOR, Category.NEWBORN) and age >= ADULT_AGE:
        raise _invalid(
            "CATEGORY_AGE_MISMATCH", f"{field_prefix}category", "a minor must be under 18", "未成年居民须未满18周岁"
        )
    if category is Category.NEWBORN and today > newborn_deadline(resident_id.birth_date):
        raise _invalid(
            "NEWBORN_PERIOD_PASSED",
            f"{field_prefix}category",
            f"more than {NEWBORN_DAYS} days since birth: register as MINOR under the ordinary rules",
            f"出生已超过{NEWBORN_DAYS}天,请按未成年居民参保",
        )
    return Applicant(resident_id, name, phone, category, evidence, school_code)


def newborn_deadline(birth_date: dt.date) -> dt.date:
    """Last day a newborn can be enrolled and paid with coverage from birth (R13)."""
    return birth_date + dt.timedelta(days=NEWBORN_DAYS)


def initial_state(review_mode: ReviewMode) -> EnrollmentState:
    """Automatic review registers at once; manual review waits for an officer (R7)."""
    return EnrollmentState.ACTIVE if review_mode is ReviewMode.AUTOMATIC else EnrollmentState.PENDING_REVIEW


def years_to_assess(
    *,
    category: Category,
    birth_date: dt.date,
    registered_on: dt.date,
    policies: Mapping[int, RegionPolicy],
    wait_exemption: WaitExemption | None = None,
) -> list[YearAssessment]:
    """The years a registration made on `registered_on` owes: every year on sale that day, in its
    collection window or, from 2025, outside it with a waiting period to come (R36; R7a: judged on the
    registration date, also when an officer approves it later). Someone the registration already shows
    to wait for nothing (a subsidised hardship category, a reason the region lists: R37) may buy the year
    in progress to its last day.

    A newborn registered within 90 days of birth also owes the year of birth, covered from the birth
    date, and, when born last year, the year in progress (R13: born 15 Nov 2023, registered 20 Nov →
    2023 at 350 and 2024 at 380). Every year it owes is payable until the later of the window's end and
    birth + 90 days, so registering early is never worse than registering late (R13a).
    """
    chosen: dict[int, YearAssessment] = {}
    newborn = category is Category.NEWBORN and registered_on <= newborn_deadline(birth_date)
    if newborn:
        for year in sorted({birth_date.year, registered_on.year}):
            policy = policies.get(year)
            if policy is None:
                continue
            current = year == birth_date.year
            standard = policy.newborn_standard_fen if current else policy.individual_standard_fen
            chosen[year] = YearAssessment(
                insurance_year=year,
                policy_version=policy.version,
                standard_fen=standard,
                subsidy_fen=subsidy_for(policy, category, standard),
                collection_window=policy.collection_window,
                coverage=DateRange(birth_date if current else policy.benefit_period.start, policy.benefit_period.end),
                payable=DateRange(birth_date, sale_period(policy).end),
                newborn_current_year=current,
                wait_free_until=wait_free_until(policy),
                channel_openings=tuple(sorted((policy.channel_openings or {}).items())),
            )

    def exempt(policy: RegionPolicy) -> bool:
        return waits_for_nothing(policy, category, wait_exemption)

    for policy in on_sale(policies.values(), registered_on, exempt):
        if policy.insurance_year not in chosen:
            chosen[policy.insurance_year] = ordinary_year(policy, category, exempt=exempt(policy))
    years = [chosen[y] for y in sorted(chosen)]
    if newborn:
        years = [payable_until_at_least(y, newborn_deadline(birth_date)) for y in years]
    return years


def years_on_approval(
    years: list[YearAssessment], registered_on: dt.date, approved_on: dt.date, policies: Mapping[int, RegionPolicy]
) -> list[YearAssessment]:
    """R7a: nobody loses a year because review was slow. A year registered for in its window stays
    payable, and from 2025 payable without a wait, for the region's review grace period after the
    approval (registered 30 Dec, approved 3 Jan → until 18 Jan). A year registered for outside its
    window (R36) keeps its terms: the wait was coming anyway."""
    return [
        payable_until_at_least(y, approved_on + dt.timedelta(days=policies[y.insurance_year].review_grace_days))
        if y.insurance_year in policies and (y.wait_free_until is None or registered_on <= y.wait_free_until)
        else y
        for y in years
    ]


def not_yet_covered(years: list[YearAssessment], covered: set[int]) -> list[YearAssessment]:
    """A year the person is already covered for, by an enrollment that ended (paid years stay covered to
    the year's end, R11), is not owed again: nobody pays twice for one year (R17a, R23)."""
    return [y for y in years if y.insurance_year not in covered]


def payable_until_at_least(year: YearAssessment, last_day: dt.date) -> YearAssessment:
    """The year with its payable period, and the days it needs no wait, reaching at least `last_day`
    (R7a, R13: a late approval or a newborn's 90 days count as the window)."""
    free = year.wait_free_until
    return replace(
        year,
        payable=DateRange(year.payable.start, max(year.payable.end, last_day)),
        wait_free_until=max(free, last_day) if free is not None else None,
    )


def waits_for_nothing(policy: RegionPolicy, category: Category, wait_exemption: WaitExemption | None) -> bool:
    """Whether the enrollment already shows no wait will apply under `policy` (R37: a subsidised
    hardship category, a reason the region lists), so its year is sold to its last day (R36)."""
    subsidy = subsidy_for(policy, category, policy.individual_standard_fen)
    return exempt_when_registering(category, subsidy, wait_exemption.reason if wait_exemption else None, policy.rules)


def ordinary_year(policy: RegionPolicy, category: Category, *, exempt: bool = False) -> YearAssessment:
    """A year sold in its collection window, covering the whole benefit period (R10, R14); outside it
    as sale_period says (R36)."""
    standard = policy.individual_standard_fen
    return YearAssessment(
        insurance_year=policy.insurance_year,
        policy_version=policy.version,
        standard_fen=standard,
        subsidy_fen=subsidy_for(policy, category, standard),
        collection_window=policy.collection_window,
        coverage=policy.benefit_period,
        payable=sale_period(policy, exempt=exempt),
        newborn_current_year=False,
        wait_free_until=wait_free_until(policy),
        channel_openings=tuple(sorted((policy.channel_openings or {}).items())),
    )


def _invalid(reason: str, field: str, message: str, message_zh: str) -> InvalidArgument:
    return InvalidArgument(reason, message, message_zh, field=field, metadata={"field": field})


@dataclass(frozen=True)
class NewEnrollment:
    enrollment: Enrollment
    years: list[YearAssessment]


def new_enrollment(
    applicant: Applicant, region: Region, policies: Mapping[int, RegionPolicy], now: dt.datetime
) -> NewEnrollment:
    """The enrollment a checked applicant gets: active at once or pending review, per the region's
    policy (R7), with the years that become payable now when active (R13, R14)."""
    today = now.date()
    governing = governing_policy(policies.values(), today, region.code)
    state = initial_state(governing.review_mode)
    check_against_policy(applicant, governing, today)
    check_exemption(applicant.wait_exemption, governing)
    enrollment = Enrollment(
        enrollment_id=str(uuid.uuid4()),
        resident_id_number=applicant.resident_id.number,
        name=applicant.name,
        phone=applicant.phone,
        birth_date=applicant.resident_id.birth_date,
        region_code=region.code,
        school_code=applicant.school_code,
        category=applicant.category,
        state=state,
        sequence=1,
        evidence=applicant.evidence,
        created_at=now,
        updated_at=now,
        wait_exemption=applicant.wait_exemption,
    )
    if state is not EnrollmentState.ACTIVE:
        return NewEnrollment(enrollment, [])
    years = years_to_assess(
        category=applicant.category,
        birth_date=applicant.resident_id.birth_date,
        registered_on=today,
        policies=policies,
        wait_exemption=applicant.wait_exemption,
    )
    return NewEnrollment(enrollment, years)


def check_exemption(exemption: WaitExemption | None, policy: RegionPolicy) -> None:
    """R37: an exemption from the wait is one the region lists, stated with its evidence."""
    if exemption is None:
        return
    listed = policy.rules.exempt_reasons
    if exemption.reason not in listed:
        raise InvalidArgument(
            "WAIT_EXEMPTION_NOT_LISTED",
            f"{policy.region_code} exempts from the waiting period for: {', '.join(listed) or 'no further reason'}",
            f"本统筹区免待遇等待期的情形为:{'、'.join(listed) or '无'}",
            field="wait_exemption.reason",
            metadata={"accepted": ",".join(listed)},
        )
    if not exemption.document_ref.strip():
        raise _invalid(
            "FIELD_REQUIRED",
            "wait_exemption.document_ref",
            "the exemption's document is required",
            "请提供免等待期证明材料",
        )


def check_against_policy(applicant: Applicant, policy: RegionPolicy, today: dt.date) -> None:
    """What the region decides of an applicant (R45, issue 19): the documents its category needs there,
    and the age from which one enrols as elderly."""
    groups = required_evidence(policy.evidence, applicant.category)
    check_evidence(applicant.category, applicant.evidence, groups, policy.region_code)
    if applicant.category is Category.ELDERLY and applicant.resident_id.age_on(today) < policy.elderly_age:
        raise _invalid(
            "CATEGORY_AGE_MISMATCH",
            "category",
            f"elderly residents of {policy.region_code} are {policy.elderly_age} or older",
            f"老年居民须年满{policy.elderly_age}周岁",
        )
