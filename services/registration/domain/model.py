"""Insurance-side domain values. Enum values are the names used in the database and, with the enum's
prefix, in the protos (Category.MINOR <-> CATEGORY_MINOR)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from services.common.money import Fen
from services.common.periods import DateRange
from services.registration.domain.long_term_rules import LongTermRules, default_rules

DEFAULT_REVIEW_GRACE_DAYS = 15
DEFAULT_ELDERLY_AGE = 60


class Category(enum.StrEnum):
    NON_EMPLOYED = "NON_EMPLOYED"
    ELDERLY = "ELDERLY"
    MINOR = "MINOR"
    COLLEGE_STUDENT = "COLLEGE_STUDENT"
    HARDSHIP_LOW_INCOME = "HARDSHIP_LOW_INCOME"
    HARDSHIP_SEVERE_DISABILITY = "HARDSHIP_SEVERE_DISABILITY"
    HARDSHIP_EXTREME_POVERTY = "HARDSHIP_EXTREME_POVERTY"
    NEWBORN = "NEWBORN"
    RESIDENCE_PERMIT_HOLDER = "RESIDENCE_PERMIT_HOLDER"


CATEGORY_ZH = {
    Category.NON_EMPLOYED: "非从业居民",
    Category.ELDERLY: "老年居民",
    Category.MINOR: "未成年居民",
    Category.COLLEGE_STUDENT: "高校大学生",
    Category.HARDSHIP_LOW_INCOME: "低保人员",
    Category.HARDSHIP_SEVERE_DISABILITY: "重度残疾人员",
    Category.HARDSHIP_EXTREME_POVERTY: "特困供养人员",
    Category.NEWBORN: "新生儿",
    Category.RESIDENCE_PERMIT_HOLDER: "居住证参保人员",
}


class EvidenceKind(enum.StrEnum):
    HOUSEHOLD_REGISTER = "HOUSEHOLD_REGISTER"
    RESIDENCE_PERMIT = "RESIDENCE_PERMIT"
    LOW_INCOME_CERTIFICATE = "LOW_INCOME_CERTIFICATE"
    DISABILITY_CERTIFICATE = "DISABILITY_CERTIFICATE"
    EXTREME_POVERTY_CERTIFICATE = "EXTREME_POVERTY_CERTIFICATE"
    BIRTH_CERTIFICATE = "BIRTH_CERTIFICATE"
    # R45: what Anqing accepts from residents not registered there, and Changzhou's 就业登记证.
    PROPERTY_CERTIFICATE = "PROPERTY_CERTIFICATE"
    BUSINESS_LICENCE = "BUSINESS_LICENCE"
    LABOUR_CONTRACT = "LABOUR_CONTRACT"
    RENTAL_AGREEMENT = "RENTAL_AGREEMENT"
    EMPLOYMENT_REGISTRATION_CARD = "EMPLOYMENT_REGISTRATION_CARD"


EVIDENCE_ZH = {
    EvidenceKind.HOUSEHOLD_REGISTER: "居民户口簿",
    EvidenceKind.RESIDENCE_PERMIT: "居住证",
    EvidenceKind.LOW_INCOME_CERTIFICATE: "最低生活保障金领取证",
    EvidenceKind.DISABILITY_CERTIFICATE: "残疾人证",
    EvidenceKind.EXTREME_POVERTY_CERTIFICATE: "特困人员救助供养证",
    EvidenceKind.BIRTH_CERTIFICATE: "出生医学证明",
    EvidenceKind.PROPERTY_CERTIFICATE: "房产证",
    EvidenceKind.BUSINESS_LICENCE: "营业执照",
    EvidenceKind.LABOUR_CONTRACT: "劳动合同",
    EvidenceKind.RENTAL_AGREEMENT: "租房协议",
    EvidenceKind.EMPLOYMENT_REGISTRATION_CARD: "就业登记证",
}


class EnrollmentState(enum.StrEnum):
    PENDING_REVIEW = "PENDING_REVIEW"
    REJECTED = "REJECTED"
    ACTIVE = "ACTIVE"
    STOPPED = "STOPPED"
    AGED_OUT = "AGED_OUT"


# R8: a person holds at most one open enrollment, across all regions.
OPEN_STATES = frozenset({EnrollmentState.PENDING_REVIEW, EnrollmentState.ACTIVE})
ENDED_STATES = frozenset({EnrollmentState.STOPPED, EnrollmentState.AGED_OUT})


class StopReason(enum.StrEnum):
    MOVED_AWAY = "MOVED_AWAY"
    JOINED_EMPLOYEE_INSURANCE = "JOINED_EMPLOYEE_INSURANCE"
    DECEASED = "DECEASED"
    OTHER = "OTHER"
    AGED_OUT = "AGED_OUT"


class YearStatus(enum.StrEnum):
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    COVERED = "COVERED"
    CANCELLED = "CANCELLED"


class ReviewMode(enum.StrEnum):
    AUTOMATIC = "AUTOMATIC"
    MANUAL = "MANUAL"


class Scheme(enum.StrEnum):
    RESIDENT = "RESIDENT"
    EMPLOYEE = "EMPLOYEE"


SCHEME_ZH = {Scheme.RESIDENT: "居民", Scheme.EMPLOYEE: "职工"}


@dataclass(frozen=True)
class Evidence:
    kind: EvidenceKind
    document_ref: str


@dataclass(frozen=True)
class WaitExemption:
    """R37: a reason the region lists for no waiting period, with the document that shows it."""

    reason: str
    document_ref: str


@dataclass(frozen=True)
class Region:
    code: str
    name: str


@dataclass(frozen=True)
class School:
    code: str
    name: str
    region_code: str


@dataclass(frozen=True)
class EnrollmentYear:
    insurance_year: int
    status: YearStatus
    coverage: DateRange
    payable: DateRange
    newborn_current_year: bool
    policy_version: int
    standard_fen: Fen
    subsidy_fen: Fen
    collection_window: DateRange
    paid_by_payment_id: str | None = None
    # R36, R37: the last day a payment needs no wait (None: a year sold on the rules before 2025).
    wait_free_until: dt.date | None = None
    # The grant's payment day, its wait, and the day coverage starts after it (None: coverage.start).
    paid_on: dt.date | None = None
    wait_months: int = 0
    covered_from: dt.date | None = None

    @property
    def covered_period(self) -> DateRange:
        """The days a granted year covers: from the end of its wait to the end of the year (R37)."""
        return DateRange(self.covered_from or self.coverage.start, self.coverage.end)


@dataclass(frozen=True)
class Enrollment:
    enrollment_id: str
    resident_id_number: str
    name: str
    phone: str
    birth_date: dt.date
    region_code: str
    school_code: str | None
    category: Category
    state: EnrollmentState
    sequence: int
    evidence: tuple[Evidence, ...]
    created_at: dt.datetime
    updated_at: dt.datetime
    years: tuple[EnrollmentYear, ...] = ()
    rejection_reason: str | None = None
    stop_reason: StopReason | None = None
    stop_note: str | None = None
    stopped_at: dt.datetime | None = None
    stop_year: int | None = None
    wait_exemption: WaitExemption | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def open_resident_id(self) -> str | None:
        """The key of the one-open-enrollment-per-person constraint (R8): the ID number while open."""
        return self.resident_id_number if self.is_open else None


@dataclass(frozen=True)
class ExternalEnrollment:
    external_enrollment_id: str
    resident_id_number: str
    name: str
    region_code: str
    region_name: str
    scheme: Scheme
    reporting_agency: str
    active: bool
    created_at: dt.datetime
    ended_at: dt.datetime | None = None
    end_reason: str | None = None


@dataclass(frozen=True)
class RegionPolicy:
    region_code: str
    insurance_year: int
    individual_standard_fen: Fen
    fiscal_subsidy_fen: Fen
    newborn_standard_fen: Fen
    category_subsidies: dict[Category, Fen]
    collection_window: DateRange
    benefit_period: DateRange
    review_mode: ReviewMode
    demo_data: bool = False
    version: int = 0
    # R7a: how long a registration approved after its window closed stays payable.
    review_grace_days: int = DEFAULT_REVIEW_GRACE_DAYS
    created_at: dt.datetime | None = field(default=None, compare=False)
    # R36-R39; None: the national defaults for the year (long_term_rules.default_rules).
    long_term: LongTermRules | None = None
    # R45: per category, groups of documents (one of each group required); None or a category left out:
    # the default (evidence_rules.DEFAULT_REQUIRED).
    evidence: dict[Category, tuple[frozenset[EvidenceKind], ...]] | None = None
    # The age from which a resident may enrol as ELDERLY (issue 19: region policy data, 60 by default).
    elderly_age: int = DEFAULT_ELDERLY_AGE
    # R49: channel name (as the tax side names it, e.g. "WECHAT") → the first day it takes payments.
    channel_openings: dict[str, dt.date] | None = None

    @property
    def rules(self) -> LongTermRules:
        """The year's long-term mechanism terms, as set or as the national defaults."""
        return self.long_term if self.long_term is not None else default_rules(self.insurance_year)

    def same_terms(self, other: RegionPolicy) -> bool:
        """True when nothing but version and creation time differ."""
        return (
            self.region_code,
            self.insurance_year,
            self.individual_standard_fen,
            self.fiscal_subsidy_fen,
            self.newborn_standard_fen,
            self.category_subsidies,
            self.collection_window,
            self.benefit_period,
            self.review_mode,
            self.demo_data,
            self.review_grace_days,
            self.rules,
            self.evidence or None,
            self.elderly_age,
            self.channel_openings or None,
        ) == (
            other.region_code,
            other.insurance_year,
            other.individual_standard_fen,
            other.fiscal_subsidy_fen,
            other.newborn_standard_fen,
            other.category_subsidies,
            other.collection_window,
            other.benefit_period,
            other.review_mode,
            other.demo_data,
            other.review_grace_days,
            other.rules,
            other.evidence or None,
            other.elderly_age,
            other.channel_openings or None,
        )
