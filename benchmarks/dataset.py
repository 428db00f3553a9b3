"""A deterministic synthetic population for the enrollment check benchmark.

Person i (0 <= i < rows) always gets the same resident ID, enrollments, insurance years and check
document. So loader processes can split the range between them without talking to each other, and the
client can pick existing IDs (i < rows) and absent ones (i >= rows) without asking the database.

Per-person work is kept small because 10,000,000 people are generated in Python: everything that does
not depend on the person (year figures, check documents, dates) is built once per profile and shared.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from ops import demo_data
from services.common.clock import CST
from services.common.periods import DateRange, cst_date
from services.common.resident_id import check_character
from services.enrollment.domain.check_document import (
    CheckDocument,
    EnrollmentEntry,
    EntryState,
    EntryYearStatus,
    IncentiveEntry,
    YearEntry,
    read_document,
    write_document,
)
from services.registration.domain.continuity import Continuity
from services.registration.domain.incentive import incentives
from services.registration.domain.model import Category, RegionPolicy, ReviewMode
from services.registration.domain.registration import ordinary_year

# The population is described as of this day: benefit year 2027 is on sale in most regions.
REFERENCE_DAY = dt.date(2026, 11, 1)
LAST_YEAR = 2027
REGION_NAMES = {r.code: r.name for r in demo_data.REGIONS}
# The demo policies as `make run` loads them on the reference day.
DEMO_POLICIES = demo_data.policies(REFERENCE_DAY)

# Registered-residence prefixes (the first six ID digits) of each demo region's districts and counties.
REGION_PREFIXES: dict[str, tuple[str, ...]] = {
    "340800": ("340802", "340803", "340811", "340822", "340825", "340826", "340827", "340828", "340881", "340882"),
    "654000": ("654002", "654003", "654004", "654021", "654022", "654023", "654024", "654025"),
    "350200": ("350203", "350205", "350206", "350211", "350212", "350213"),
    "320400": ("320402", "320404", "320411", "320413", "320481"),
    "341800": ("341802", "341821", "341823", "341824", "341825", "341881", "341882"),
}
# Wujin district of Changzhou is left out of the loaded population: the registration writer draws its
# new people from it, so they never collide with loaded ones.
WRITER_PREFIX = "320412"

_PREFIXES: tuple[tuple[str, str], ...] = tuple((p, region) for region, ps in REGION_PREFIXES.items() for p in ps)
_FIRST_BIRTH = dt.date(1940, 1, 1)
_BIRTHS: tuple[dt.date, ...] = tuple(
    _FIRST_BIRTH + dt.timedelta(days=d) for d in range((dt.date(2024, 12, 31) - _FIRST_BIRTH).days + 1)
)
_BIRTH_TEXT: tuple[str, ...] = tuple(f"{d:%Y%m%d}" for d in _BIRTHS)
CAPACITY = len(_PREFIXES) * len(_BIRTHS) * 1000
_MINOR_BORN_AFTER = REFERENCE_DAY.replace(year=REFERENCE_DAY.year - 18)
_ELDERLY_BORN_BY = REFERENCE_DAY.replace(year=REFERENCE_DAY.year - 60)
_NAMES = tuple(
    s + g
    for s in "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    for g in ("伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰")
)
_WRITER_FIRST_BIRTH = dt.date(1970, 1, 1)
_MASK64 = (1 << 64) - 1
# Enrollment ids: a fixed high part whose version nibble is 0, so they never equal the service's uuid4s.
_UUID_BASE = 0xBE0C << 112

ENROLLMENT_COLUMNS = (
    "enrollment_id",
    "resident_id_number",
    "name",
    "phone",
    "birth_date",
    "region_code",
    "category",
    "state",
    "sequence",
    "stop_reason",
    "stopped_at",
    "stop_year",
    "created_at",
    "updated_at",
)
YEAR_COLUMNS = (
    "enrollment_id",
    "insurance_year",
    "status",
    "coverage_start",
    "coverage_end",
    "payable_from",
    "payable_until",
    "window_start",
    "window_end",
    "newborn_current_year",
    "policy_version",
    "standard_fen",
    "subsidy_fen",
    "paid_by_payment_id",
    "covered_at",
)
INDEX_COLUMNS = ("resident_id_number", "doc", "updated_at")


def person_number(i: int) -> str:
    """The resident ID of person i: prefix cycles fastest, then birth date, then the sequence."""
    if not 0 <= i < CAPACITY:
        raise ValueError(f"person {i} is outside the generator's capacity of {CAPACITY}")
    prefix, _ = _PREFIXES[i % len(_PREFIXES)]
    rest = i // len(_PREFIXES)
    # 37 is coprime with 1000: the sequence stays unique per prefix and date without just counting up.
    seq = rest // len(_BIRTHS) * 37 % 1000
    body = f"{prefix}{_BIRTH_TEXT[rest % len(_BIRTHS)]}{seq:03d}"
    return body + check_character(body)


def writer_number(k: int) -> str:
    """The k-th new person of the registration writer; increasing k gives increasing IDs."""
    day, seq = divmod(k, 1000)
    body = f"{WRITER_PREFIX}{_WRITER_FIRST_BIRTH + dt.timedelta(days=day):%Y%m%d}{seq:03d}"
    return body + check_character(body)


def writer_index(number: str) -> int:
    """Inverse of writer_number (to resume after the highest writer ID already in a reused database)."""
    born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    return (born - _WRITER_FIRST_BIRTH).days * 1000 + int(number[14:17])


# -- profiles: what a person's enrollments look like, shared by everyone alike ------------------------


@dataclass(frozen=True)
class EnrollmentShape:
    region: str
    state: str
    created_at: dt.datetime
    years: tuple[tuple[int, str], ...]  # (insurance year, status), oldest first
    stop_year: int | None = None
    stopped_at: dt.datetime | None = None
    stop_reason: str | None = None


@dataclass(frozen=True)
class Profile:
    category: Category
    enrollments: tuple[EnrollmentShape, ...]  # newest first, as in the check document


def _mix(i: int) -> int:
    """splitmix64 finaliser: independent-looking bits per person, without a random generator's state."""
    x = (i * 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _category(born: dt.date, roll: int) -> Category:
    if born > _MINOR_BORN_AFTER:
        return Category.MINOR
    if born <= _ELDERLY_BORN_BY:
        return Category.HARDSHIP_LOW_INCOME if roll < 3 else Category.ELDERLY
    for limit, category in (
        (3, Category.HARDSHIP_LOW_INCOME),
        (5, Category.HARDSHIP_SEVERE_DISABILITY),
        (6, Category.HARDSHIP_EXTREME_POVERTY),
        (11, Category.RESIDENCE_PERMIT_HOLDER),
    ):
        if roll < limit:
            return category
    return Category.NON_EMPLOYED


def profile_of(i: int) -> Profile:
    """Person i's profile: 2% stopped, 2% moved here from another region (old enrollment stopped), 2%
    of the manual-review region waiting for review, the rest active since 2024, 2025 or 2026; the year on
    sale paid by 40%, earlier years paid by 97%."""
    h = _mix(i)
    _, region = _PREFIXES[i % len(_PREFIXES)]
    born = _BIRTHS[(i // len(_PREFIXES)) % len(_BIRTHS)]
    category = _category(born, (h >> 10) % 100)
    kind_roll, since_roll = h % 1000, (h >> 20) % 100
    if kind_roll < 20:
        kind = "STOPPED"
    elif kind_roll < 40:
        kind = "MOVED"
    elif kind_roll < 60 and _review_mode(region) is ReviewMode.MANUAL:
        kind = "PENDING"
    else:
        kind = "ACTIVE"
    since = 2024 if since_roll < 45 else 2025 if since_roll < 80 else 2026
    return _profile(region, category, kind, since, (h >> 30) % 100 < 40, (h >> 40) % 100 < 3)


@cache
def _profile(region: str, category: Category, kind: str, since: int, paid_now: bool, unpaid_before: bool) -> Profile:
    if kind == "PENDING":
        shape = EnrollmentShape(region, "PENDING_REVIEW", _created(region, LAST_YEAR - 1), ())
        return Profile(category, (shape,))
    if kind == "STOPPED":
        stopped = dt.datetime(LAST_YEAR - 1, 6, 15, 10, tzinfo=CST)
        shape = _active(region, 2024, paid_now, unpaid_before, until=stopped.date())
        return Profile(category, (_stop(shape, stopped, "MOVED_AWAY"),))
    if kind == "MOVED":
        stopped = dt.datetime(LAST_YEAR - 2, 1, 15, 10, tzinfo=CST)
        old = _active(_other_region(region), 2023, paid_now, unpaid_before, until=stopped.date())
        new = _active(region, LAST_YEAR - 2, paid_now, unpaid_before, until=REFERENCE_DAY)
        return Profile(category, (new, _stop(old, stopped, "MOVED_AWAY")))
    return Profile(category, (_active(region, since, paid_now, unpaid_before, until=REFERENCE_DAY),))


def _active(region: str, since: int, paid_now: bool, unpaid_before: bool, *, until: dt.date) -> EnrollmentShape:
    """An enrollment created in `since`, carried into every year whose window opened by `until`."""
    created = _created(region, since)
    years = []
    for year in range(since, LAST_YEAR + 1):
        window = year_policy(region, year).collection_window
        if window.end < created.date() or window.start > until:
            continue
        if window.end < REFERENCE_DAY:
            status = "AWAITING_PAYMENT" if unpaid_before else "COVERED"
        else:
            status = "COVERED" if paid_now else "AWAITING_PAYMENT"
        years.append((year, status))
    return EnrollmentShape(region, "ACTIVE", created, tuple(years))


def _stop(shape: EnrollmentShape, stopped_at: dt.datetime, reason: str) -> EnrollmentShape:
    """A stop cancels the unpaid years; paid ones stay covered."""
    years = tuple((y, "CANCELLED" if s == "AWAITING_PAYMENT" else s) for y, s in shape.years)
    return replace(
        shape, state="STOPPED", years=years, stop_year=stopped_at.year, stopped_at=stopped_at, stop_reason=reason
    )


def _created(region: str, since: int) -> dt.datetime:
    """Registered in the middle of the collection window that opens in `since` (10:00 CST)."""
    for year in (since, since + 1):
        window = year_policy(region, year).collection_window
        if window.start.year == since:
            return dt.datetime.combine(window.start + (window.end - window.start) / 2, dt.time(10), tzinfo=CST)
    return dt.datetime(since, 6, 1, 10, tzinfo=CST)


def _other_region(region: str) -> str:
    codes = list(REGION_PREFIXES)
    return codes[(codes.index(region) + 1) % len(codes)]


def _review_mode(region: str) -> ReviewMode:
    return year_policy(region, LAST_YEAR).review_mode


@cache
def year_policy(region: str, year: int) -> RegionPolicy:
    """The demo policy of the region and year, or its latest earlier one moved to that year (the demo
    data lacks most years): same figures and window, shifted by whole years. Version 1, as loaded."""
    known = sorted((p for p in DEMO_POLICIES if p.region_code == region), key=lambda p: p.insurance_year)
    base = next((p for p in reversed(known) if p.insurance_year <= year), known[0])
    shift = year - base.insurance_year
    window = base.collection_window
    return replace(
        base,
        insurance_year=year,
        version=1,
        collection_window=DateRange(_shifted(window.start, shift), _shifted(window.end, shift)),
        benefit_period=DateRange(dt.date(year, 1, 1), dt.date(year, 12, 31)),
    )


def _shifted(day: dt.date, years: int) -> dt.date:
    return day.replace(year=day.year + years)


# -- what the tables and the read model hold ---------------------------------------------------------


@cache
def check_doc(profile: Profile) -> str:
    """The person's check document, built with the one writer the registration service uses."""
    document = CheckDocument(
        enrollments=tuple(
            EnrollmentEntry(
                region_code=e.region,
                region_name=REGION_NAMES[e.region],
                category=profile.category.value,
                state=EntryState(e.state),
                since=cst_date(e.created_at).year,
                years=tuple(
                    YearEntry(
                        year,
                        EntryYearStatus(status),
                        year_policy(e.region, year).benefit_period.start,
                        year_policy(e.region, year).benefit_period.end,
                    )
                    for year, status in e.years
                ),
                stop_year=e.stop_year,
                ended_on=cst_date(e.stopped_at) if e.stopped_at else None,
                end_reason=e.stop_reason,
            )
            for e in profile.enrollments
        ),
        incentive=_incentive(profile),
    )
    return json.dumps(write_document(document), ensure_ascii=False)


def _incentive(profile: Profile) -> tuple[IncentiveEntry, ...]:
    """R39 as the projection writes it: the covered years are the person's continuity, no fund use."""
    continuity = Continuity(frozenset(year for e in profile.enrollments for year, s in e.years if s == "COVERED"))
    assessed = [(year, year_policy(e.region, year).rules) for e in profile.enrollments for year, _ in e.years]
    return tuple(
        IncentiveEntry(i.insurance_year, i.continuous_years, i.cap_fen, i.raise_fen)
        for i in incentives(assessed, continuity, set())
    )


def check_doc_of(i: int) -> CheckDocument:
    """Person i's check document, as the check service reads it."""
    return read_document(json.loads(check_doc(profile_of(i))))


@cache
def _year_template(region: str, category: Category, year: int, status: str) -> tuple[Any, ...]:
    """The enrollment_years columns between enrollment_id and paid_by_payment_id."""
    assessed = ordinary_year(year_policy(region, year), category)
    return (
        year,
        status,
        assessed.coverage.start,
        assessed.coverage.end,
        assessed.payable.start,
        assessed.payable.end,
        assessed.collection_window.start,
        assessed.collection_window.end,
        False,
        assessed.policy_version,
        int(assessed.standard_fen),
        int(assessed.subsidy_fen),
    )


@cache
def _covered_at(region: str, year: int) -> dt.datetime:
    window = year_policy(region, year).collection_window
    return dt.datetime.combine(window.end - dt.timedelta(days=10), dt.time(15), tzinfo=CST)


@dataclass
class Records:
    """One chunk of rows for the three tables, ready for COPY."""

    enrollments: list[tuple[Any, ...]]
    years: list[tuple[Any, ...]]
    docs: list[tuple[Any, ...]]


def records(start: int, stop: int, loaded_at: dt.datetime) -> Records:
    """Rows of persons start..stop-1."""
    chunk = Records([], [], [])
    for i in range(start, stop):
        number = person_number(i)
        profile = profile_of(i)
        born = _BIRTHS[(i // len(_PREFIXES)) % len(_BIRTHS)]
        for k, e in enumerate(profile.enrollments):
            enrollment_id = f"{_UUID_BASE + 2 * i + k:032x}"
            chunk.enrollments.append(
                (
                    enrollment_id,
                    number,
                    _NAMES[i % len(_NAMES)],
                    f"13{i % 1_000_000_000:09d}",
                    born,
                    e.region,
                    profile.category.value,
                    e.state,
                    1 + len(e.years) + (e.stopped_at is not None),
                    e.stop_reason,
                    e.stopped_at,
                    e.stop_year,
                    e.created_at,
                    e.stopped_at or e.created_at,
                )
            )
            for year, status in e.years:
                covered = status == "COVERED"
                chunk.years.append(
                    (
                        enrollment_id,
                        *_year_template(e.region, profile.category, year, status),
                        f"PAY-{i}-{year}" if covered else None,
                        _covered_at(e.region, year) if covered else None,
                    )
                )
        chunk.docs.append((number, check_doc(profile), loaded_at))
    return chunk
