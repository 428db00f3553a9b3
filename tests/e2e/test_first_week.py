"""Issue 17: what a province hits in its first week, through the real processes on a system of its own
(fresh databases and vhost, so `medins audit` judges only what this module did).

Every category × no / partial / full subsidy × automatic / manual review (R17, R41): each resident ends
in the check's answer, the items owed (none when the subsidy is full: settled by the subsidy and COVERED
as soon as the assessment is made), the collection results' counts (R29: the fully subsidised count as
settled) and `medins audit` clean. One system and one table; the residents are registered in parallel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.registration.v1 import registration_service_pb2 as reg

from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.fleet import audit_clean, own_system
from tests.e2e.requests import create_region, new_request_id, policy
from tests.e2e.system import System
from tests.factories import resident_id
from tests.support import eventually

D = dt.date
# The clock of own_system: 20 Nov 2023, inside the 2024 window of the table's regions.
STANDARD = {2023: 35000, 2024: 38000}
WINDOWS = {2023: (D(2022, 9, 1), D(2022, 12, 31)), 2024: (D(2023, 9, 1), D(2023, 12, 31))}
PARTIAL_FEN = 15000
LEVELS = ("none", "partial", "full")
MODES = ("automatic", "manual")
_H = reg.Evidence(kind=reg.EVIDENCE_KIND_HOUSEHOLD_REGISTER, document_ref="hk-1")


def _evidence(kind: reg.EvidenceKind.ValueType) -> reg.Evidence:
    return reg.Evidence(kind=kind, document_ref="cert-1")


# Category → (birth date, evidence): a person of that category on 20 Nov 2023 (R5, R6, R13).
PEOPLE: dict[common_pb2.Category.ValueType, tuple[D, list[reg.Evidence]]] = {
    common_pb2.CATEGORY_NON_EMPLOYED: (D(1980, 3, 1), [_H]),
    common_pb2.CATEGORY_ELDERLY: (D(1950, 3, 1), [_H]),
    common_pb2.CATEGORY_MINOR: (D(2012, 3, 1), [_H]),
    common_pb2.CATEGORY_COLLEGE_STUDENT: (D(2003, 3, 1), []),
    common_pb2.CATEGORY_HARDSHIP_LOW_INCOME: (D(1975, 3, 1), [_H, _evidence(reg.EVIDENCE_KIND_LOW_INCOME_CERTIFICATE)]),
    common_pb2.CATEGORY_HARDSHIP_SEVERE_DISABILITY: (
        D(1975, 3, 1),
        [_H, _evidence(reg.EVIDENCE_KIND_DISABILITY_CERTIFICATE)],
    ),
    common_pb2.CATEGORY_HARDSHIP_EXTREME_POVERTY: (
        D(1975, 3, 1),
        [_H, _evidence(reg.EVIDENCE_KIND_EXTREME_POVERTY_CERTIFICATE)],
    ),
    # Born 10 Oct 2023, registered 20 Nov: owes 2023 from birth and 2024 (R13).
    common_pb2.CATEGORY_NEWBORN: (D(2023, 10, 10), [_evidence(reg.EVIDENCE_KIND_BIRTH_CERTIFICATE)]),
    common_pb2.CATEGORY_RESIDENCE_PERMIT_HOLDER: (D(1985, 3, 1), [_evidence(reg.EVIDENCE_KIND_RESIDENCE_PERMIT)]),
}


def region_of(mode: str, level: str) -> str:
    return f"91{MODES.index(mode)}{LEVELS.index(level)}00"


def subsidy(level: str, year: int) -> int:
    return {"none": 0, "partial": PARTIAL_FEN, "full": STANDARD[year]}[level]


@dataclass(frozen=True)
class Case:
    mode: str
    level: str
    category: common_pb2.Category.ValueType

    @property
    def name(self) -> str:
        return f"{self.mode}/{self.level}/{common_pb2.Category.Name(self.category).removeprefix('CATEGORY_')}"

    @property
    def region(self) -> str:
        return region_of(self.mode, self.level)

    @property
    def number(self) -> str:
        return resident_id(PEOPLE[self.category][0], self.region, seq=int(self.category))

    @property
    def years(self) -> list[int]:
        return [2023, 2024] if self.category == common_pb2.CATEGORY_NEWBORN else [2024]

    @property
    def settled_by_subsidy(self) -> bool:
        return self.level == "full"

    def registration(self) -> reg.RegisterResidentRequest:
        evidence = PEOPLE[self.category][1]
        request = reg.RegisterResidentRequest(
            request_id=new_request_id(),
            resident_id_number=self.number,
            name="贾一",
            phone="13800138000",
            category=self.category,
            evidence=evidence,
        )
        if self.category == common_pb2.CATEGORY_COLLEGE_STUDENT:
            request.school_code = f"S{self.region}"
        else:
            request.region_code = self.region
        return request


CASES = [Case(m, lv, c) for m in MODES for lv in LEVELS for c in PEOPLE]


@pytest.fixture(scope="module")
async def fresh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    async with own_system("first_week", Path(tmp_path_factory.mktemp("first_week"))) as system:
        yield system


async def _regions(registration: RegistrationClient) -> None:
    for mode in MODES:
        for level in LEVELS:
            code = region_of(mode, level)
            await create_region(
                registration,
                code,
                f"资助测试{mode}{level}",
                *(
                    policy(
                        code,
                        year,
                        STANDARD[year],
                        WINDOWS[year],
                        manual=mode == "manual",
                        subsidies={c: subsidy(level, year) for c in PEOPLE if subsidy(level, year)},
                    )
                    for year in STANDARD
                ),
            )
            await registration.CreateSchool(
                reg.CreateSchoolRequest(
                    request_id=new_request_id(),
                    school=reg.School(school_code=f"S{code}", name="示范", region_code=code),
                )
            )


async def _items(collection: CollectionClient, case: Case) -> list[col.PayableItem]:
    reply = await collection.ListPayableItems(
        col.ListPayableItemsRequest(
            payer_id_number=case.number, insured_id_number=case.number, insured_name="贾一", include_settled=True
        )
    )
    return list(reply.payable_items)


async def _status(enrollment: EnrollmentClient, case: Case, year: int) -> int:
    reply = await enrollment.CheckEnrollment(
        chk.CheckEnrollmentRequest(
            caller_id="matrix",
            purpose=chk.CHECK_PURPOSE_TAX_COLLECTION,
            target=chk.CheckTarget(resident_id_number=case.number, insurance_year=year),
        )
    )
    return reply.result.status


async def _as_expected(collection: CollectionClient, enrollment: EnrollmentClient, case: Case) -> list[str]:
    """What differs from the table for one case (empty when it all holds)."""
    wrong = []
    try:
        items = {i.insurance_year: i for i in await _items(collection, case)}
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return [f"{case.name}: the tax side has assessed nothing for this person"]
    if sorted(items) != case.years:
        return [f"{case.name}: items for {sorted(items)}, expected {case.years}"]
    for year, item in items.items():
        standard = STANDARD[year]
        expected = (
            (col.PAYABLE_ITEM_STATUS_SETTLED_BY_SUBSIDY, 0)
            if case.settled_by_subsidy
            else (col.PAYABLE_ITEM_STATUS_UNPAID, standard - subsidy(case.level, year))
        )
        if (item.status, item.amount_fen) != expected:
            wrong.append(f"{case.name} {year}: item {(item.status, item.amount_fen)}, expected {expected}")
        status = await _status(enrollment, case, year)
        answer = chk.CHECK_STATUS_COVERED if case.settled_by_subsidy else chk.CHECK_STATUS_REGISTERED_UNPAID
        if status != answer:
            wrong.append(f"{case.name} {year}: check {chk.CheckStatus.Name(status)}, expected {answer}")
    return wrong


@pytest.mark.timeout(240)
async def test_every_category_at_every_subsidy_level_in_both_review_modes(fresh: System) -> None:
    registration = RegistrationClient(fresh.channel("registration"))
    enrollment = EnrollmentClient(fresh.channel("enrollment"))
    collection = CollectionClient(fresh.channel("collection"))
    await _regions(registration)

    replies = await asyncio.gather(*(registration.RegisterResident(c.registration()) for c in CASES))
    pending = {c: r.enrollment for c, r in zip(CASES, replies, strict=True) if c.mode == "manual"}
    states = {c.name: r.enrollment.state for c, r in zip(CASES, replies, strict=True)}
    expected_states = {
        c.name: common_pb2.ENROLLMENT_STATE_PENDING_REVIEW if c.mode == "manual" else common_pb2.ENROLLMENT_STATE_ACTIVE
        for c in CASES
    }
    assert states == expected_states
    # Manual review: nothing is payable, or known to the tax side, before an officer approves (R7).
    for case in pending:
        assert await _status(enrollment, case, 2024) == chk.CHECK_STATUS_PENDING_REVIEW, case.name
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await _items(collection, case)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND, case.name
    await asyncio.gather(
        *(
            registration.ApproveRegistration(
                reg.ApproveRegistrationRequest(
                    request_id=new_request_id(), enrollment_id=e.enrollment_id, officer_id="o1"
                )
            )
            for e in pending.values()
        )
    )

    async def every_case_as_expected() -> None:
        found = await asyncio.gather(*(_as_expected(collection, enrollment, c) for c in CASES))
        wrong = [w for case in found for w in case]
        assert not wrong, "\n".join(wrong)

    await eventually(every_case_as_expected, timeout=90, interval=0.5)

    # R29: the results count the fully subsidised as settled (assessed, subsidised, nobody owing).
    for mode in MODES:
        for level in LEVELS:
            results = await collection.GetCollectionResults(
                col.GetCollectionResultsRequest(region_code=region_of(mode, level), insurance_year=2024)
            )
            full = level == "full"
            people = len(PEOPLE)
            owed = 0 if full else people * STANDARD[2024] - people * subsidy(level, 2024)
            assert (
                results.assessed_count,
                results.subsidised_count,
                results.unpaid_count,
                results.unpaid_amount_fen,
                results.enrolled_count,
                results.paid_person_count,
            ) == (people, people if full else 0, 0 if full else people, owed, people, people if full else 0), (
                mode,
                level,
            )
    await audit_clean(fresh, timeout=60)
