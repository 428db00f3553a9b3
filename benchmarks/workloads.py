"""The requests the benchmark sends, built ahead of the measurement so the client's own Python work
stays out of the latencies, and the answers the service must give for them."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.registration.v1 import registration_service_pb2 as reg

from benchmarks import dataset
from services.enrollment.domain.check import CheckPurpose, answer, for_purpose

if TYPE_CHECKING:
    from medins.enrollment.v1.enrollment_check_service_pb2_grpc import (
        EnrollmentCheckServiceAsyncStub as EnrollmentClient,
    )
else:
    from medins.enrollment.v1.enrollment_check_service_pb2_grpc import EnrollmentCheckServiceStub as EnrollmentClient

CALLER_ID = "bench-tax-bureau"
UNKNOWN_SHARE = 0.03
# The tax bureau mostly asks about the year it is collecting for, sometimes about the one in progress.
YEARS = (dataset.LAST_YEAR,) * 4 + (dataset.LAST_YEAR - 1,)
WRITER_REGION = "320400"  # Changzhou: automatic review, so every registered row gets its payable year


@dataclass(frozen=True)
class Target:
    person: int | None  # None: a valid ID that was never loaded
    number: str
    year: int


def targets(rows: int, count: int, rng: random.Random) -> list[Target]:
    """Random loaded people, and UNKNOWN_SHARE valid IDs nobody holds (people rows, rows+1, ...)."""
    picked = []
    for _ in range(count):
        year = rng.choice(YEARS)
        if rng.random() < UNKNOWN_SHARE:
            absent = rows + rng.randrange(min(rows, dataset.CAPACITY - rows))
            picked.append(Target(None, dataset.person_number(absent), year))
        else:
            person = rng.randrange(rows)
            picked.append(Target(person, dataset.person_number(person), year))
    return picked


def check_request(target: Target) -> chk.CheckEnrollmentRequest:
    return chk.CheckEnrollmentRequest(
        caller_id=CALLER_ID,
        purpose=chk.CHECK_PURPOSE_TAX_COLLECTION,
        target=chk.CheckTarget(resident_id_number=target.number, insurance_year=target.year),
    )


def batch_request(chosen: list[Target]) -> chk.BatchCheckEnrollmentsRequest:
    return chk.BatchCheckEnrollmentsRequest(
        caller_id=CALLER_ID,
        purpose=chk.CHECK_PURPOSE_TAX_COLLECTION,
        targets=[chk.CheckTarget(resident_id_number=t.number, insurance_year=t.year) for t in chosen],
    )


def expected(target: Target) -> tuple[int, str, str, int]:
    """(status, region code, region name, category) the service must answer, from the domain's own rule
    applied to the document the loader wrote."""
    doc = dataset.check_doc_of(target.person) if target.person is not None else None
    found = for_purpose(answer(target.number, target.year, doc), CheckPurpose.TAX_COLLECTION)
    category = common_pb2.Category.Value(f"CATEGORY_{found.category}") if found.category else 0
    return chk.CheckStatus.Value(f"CHECK_STATUS_{found.status}"), found.region_code, found.region_name, category


async def verify_answers(client: EnrollmentClient, chosen: list[Target]) -> dict[str, int]:
    """Asks the real service about each target and fails on the first wrong answer; returns how many
    answers had each status."""
    statuses: Counter[str] = Counter()
    for target in chosen:
        reply = await client.CheckEnrollment(check_request(target), timeout=10)
        result = reply.result
        got = (result.status, result.region_code, result.region_name, result.category)
        if got != expected(target):
            raise AssertionError(
                f"check of person {target.person} ({target.year}) answered {got}, expected {expected(target)}"
            )
        statuses[chk.CheckStatus.Name(result.status).removeprefix("CHECK_STATUS_")] += 1
    return dict(statuses.most_common())


# -- registrations -----------------------------------------------------------------------------------


def registration_rows(first: int, count: int, first_row_number: int = 1) -> list[reg.RegistrationRow]:
    """`count` new Changzhou residents: writer people first..first+count-1."""
    return [
        reg.RegistrationRow(
            row_number=first_row_number + n,
            resident_id_number=dataset.writer_number(first + n),
            name="常州居民",
            phone="13812345678",
            region_code=WRITER_REGION,
            category=common_pb2.CATEGORY_NON_EMPLOYED,
            # Changzhou asks a non-employed resident for the household register and 就业登记证 (R45).
            evidence=[
                reg.Evidence(kind=reg.EVIDENCE_KIND_HOUSEHOLD_REGISTER, document_ref=f"HH-{first + n}"),
                reg.Evidence(kind=reg.EVIDENCE_KIND_EMPLOYMENT_REGISTRATION_CARD, document_ref=f"JY-{first + n}"),
            ],
        )
        for n in range(count)
    ]


def registration_request(batch_id: str, rows: list[reg.RegistrationRow]) -> reg.BatchRegisterResidentsRequest:
    return reg.BatchRegisterResidentsRequest(
        request_id=str(uuid.uuid4()), batch_id=batch_id, submitter_code=WRITER_REGION, rows=rows
    )


async def next_writer_person(dsn: str) -> int:
    """The first writer person not yet registered (a reused database already holds earlier ones)."""
    conn = await asyncpg.connect(dsn)
    try:
        highest = await conn.fetchval(
            """SELECT max(resident_id_number) FROM enrollments
               WHERE resident_id_number >= $1 AND resident_id_number < $2""",
            dataset.WRITER_PREFIX,
            str(int(dataset.WRITER_PREFIX) + 1),
        )
    finally:
        await conn.close()
    return dataset.writer_index(highest) + 1 if highest else 0


def registered(reply: reg.BatchRegisterResidentsResponse) -> int:
    return sum(1 for r in reply.results if r.outcome == reg.ROW_OUTCOME_REGISTERED)
