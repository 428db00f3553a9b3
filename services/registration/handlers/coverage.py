"""Insurance's reactions to tax events (R14): grant coverage on payment.confirmed, withdraw it on
payment.refunded. Idempotent by the inbox and by the year rows' own state."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping

import structlog
from medins.common.v1 import common_pb2
from medins.events.v1 import events_pb2

from services.common.clock import Clock
from services.common.messaging import envelope as event_types
from services.common.messaging.envelope import UnprocessableEvent
from services.common.messaging.event_batches import Handler
from services.common.periods import cst_date
from services.common.proto_values import from_timestamp
from services.registration import events
from services.registration.coverage_records_repository import RecordKind
from services.registration.domain.continuity import COUNTS_AS_ENROLLED, Continuity, continuity_from
from services.registration.domain.coverage import (
    GrantDecision,
    PersonHistory,
    decide_coverage,
    decide_grant,
    earlier_starts,
    is_refusal,
    person_history,
    should_withdraw,
    status_after_refund,
)
from services.registration.domain.long_term_rules import LongTermRules, default_rules
from services.registration.domain.model import Enrollment, EnrollmentYear
from services.registration.domain.waiting import wait_to_json
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


def payment_event_handlers(clock: Clock) -> Mapping[str, Handler[RegistrationUnitOfWork]]:
    async def confirmed(envelope: events_pb2.EventEnvelope, uow: RegistrationUnitOfWork) -> None:
        await grant_coverage(envelope.payment_confirmed, uow, clock)

    async def refunded(envelope: events_pb2.EventEnvelope, uow: RegistrationUnitOfWork) -> None:
        await withdraw_coverage(envelope.payment_refunded, uow, clock)

    return {event_types.PAYMENT_CONFIRMED.name: confirmed, event_types.PAYMENT_REFUNDED.name: refunded}


def _medical_items(items: Iterable[events_pb2.PaidItem]) -> list[events_pb2.PaidItem]:
    return _items_of(items, common_pb2.FEE_TYPE_RESIDENT_MEDICAL)


def _repair_items(items: Iterable[events_pb2.PaidItem]) -> list[events_pb2.PaidItem]:
    return _items_of(items, common_pb2.FEE_TYPE_RESIDENT_MEDICAL_REPAIR)


def _items_of(items: Iterable[events_pb2.PaidItem], fee_type: int) -> list[events_pb2.PaidItem]:
    found = [i for i in items if i.fee_type == fee_type]
    for item in found:
        try:
            uuid.UUID(item.enrollment_id)
        except ValueError as exc:
            raise UnprocessableEvent(f"paid item has enrollment_id {item.enrollment_id!r}") from exc
    return found


async def grant_coverage(event: events_pb2.PaymentConfirmed, uow: RegistrationUnitOfWork, clock: Clock) -> None:
    """Grants each paid year (R14). A year this payment cannot cover (cancelled by a stop, paid outside
    its period, covered by another payment) is recorded as refused and answered with coverage.refused,
    so tax returns the money: none is kept without coverage (R14a)."""
    now = clock.now()
    paid_on = cst_date(from_timestamp(event.paid_time))
    touched: set[str] = set()
    refused: list[tuple[events_pb2.PaidItem, GrantDecision]] = []
    # Repairs first (R38): a year paid in the same order waits as shortened by them.
    repaired = await _record_repairs(uow, event, now)
    # Earlier years first: a year's wait depends on whether the years before it are paid (R37).
    for item in sorted(_medical_items(event.items), key=lambda i: i.insurance_year):
        enrollment = await uow.enrollments.get(item.enrollment_id, for_update=True)
        if enrollment is None:
            raise LookupError(f"enrollment {item.enrollment_id} is not known here yet")
        year = next((y for y in enrollment.years if y.insurance_year == item.insurance_year), None)
        if year is None:
            raise LookupError(f"enrollment {item.enrollment_id} has no year {item.insurance_year} yet")
        decision = decide_grant(year, event.payment_id, paid_on)
        if decision is GrantDecision.GRANT:
            await _grant(uow, enrollment, year, event.payment_id, paid_on, now)
            touched.add(item.resident_id_number)
        elif is_refusal(decision) and await uow.coverage.record_refusal(
            event.payment_id, item.enrollment_id, item.insurance_year, decision.value, now
        ):
            refused.append((item, decision))
        log.info(
            "coverage_decided",
            decision=decision.value,
            enrollment_id=item.enrollment_id,
            insurance_year=item.insurance_year,
            payment_id=event.payment_id,
        )
    for number in sorted(repaired):
        await restart_shortened_waits(uow, number, event.payment_id, now)
    touched |= repaired
    if refused:
        await uow.outbox.add(
            event_types.COVERAGE_REFUSED,
            events.coverage_refused(event.payment_id, [i for i, _ in refused], refused[0][1].value, now),
            occurred_at=now,
        )
        log.warning("coverage_refused", payment_id=event.payment_id, items=len(refused), reason=refused[0][1].value)
    await uow.projection.refresh(sorted(touched), now)


async def _record_repairs(
    uow: RegistrationUnitOfWork, event: events_pb2.PaymentConfirmed, now: dt.datetime
) -> set[str]:
    """Keeps each repaired year the payment paid for (R38); returns the persons who repaired one."""
    repaired: set[str] = set()
    for item in _repair_items(event.items):
        enrollment = await uow.enrollments.get(item.enrollment_id, for_update=True)
        if enrollment is None:
            raise LookupError(f"enrollment {item.enrollment_id} is not known here yet")
        if await uow.repairs.record(
            enrollment.resident_id_number, item.insurance_year, event.payment_id, item.enrollment_id, now
        ):
            repaired.add(enrollment.resident_id_number)
            log.info("year_repaired", enrollment_id=item.enrollment_id, repaired_year=item.insurance_year)
    return repaired


async def _grant(
    uow: RegistrationUnitOfWork,
    enrollment: Enrollment,
    year: EnrollmentYear,
    payment_id: str,
    paid_on: dt.date,
    now: dt.datetime,
) -> None:
    """Covers the year from the end of its wait (R37), then moves earlier any later year of the person
    whose wait this payment shortened (paid out of order)."""
    number = enrollment.resident_id_number
    if year.wait_free_until is None:
        # A year sold on the rules before 2025 has no wait: its history is not needed (the hot path).
        person = PersonHistory((), (), Continuity(frozenset()))
        rules = default_rules(year.insurance_year)
    else:
        # What the wait needs, in three reads: the years that count, repairs; external enrollments; terms.
        counted, repaired = await uow.history.years_of(number, COUNTS_AS_ENROLLED)
        external = tuple(await uow.external.all_of(number))
        person = PersonHistory((), external, continuity_from(counted, external, repaired, today=cst_date(now)))
        key = (enrollment.region_code, year.insurance_year, year.policy_version)
        rules = (await uow.regions.long_term_of([key]))[key]
    granted, wait = decide_coverage(enrollment, year, paid_on, rules, person)
    await uow.enrollments.set_year_covered(enrollment.enrollment_id, year.insurance_year, payment_id, granted, now)
    if not await uow.coverage.record(
        RecordKind.GRANT, payment_id, enrollment.enrollment_id, year.insurance_year, now, wait_to_json(wait)
    ):
        log.error("grant_already_recorded", payment_id=payment_id, enrollment_id=enrollment.enrollment_id)
    log.info(
        "coverage_granted",
        enrollment_id=enrollment.enrollment_id,
        insurance_year=year.insurance_year,
        wait_months=wait.months,
        covered_from=granted.covered_from.isoformat(),
        exemption=wait.exemption.value if wait.exemption else None,
    )
    # A later year already covered may have waited for this one (paid out of order): decide it again.
    if any(later > year.insurance_year for later in person.continuity.enrolled):
        await restart_shortened_waits(uow, number, payment_id, now)


async def restart_shortened_waits(uow: RegistrationUnitOfWork, number: str, cause_id: str, now: dt.datetime) -> None:
    """Moves earlier the coverage start of every granted year of the person whose wait, decided again
    on what is known now, ends sooner (R38); each move is recorded against the payment that caused it."""
    person = await load_history(uow, number, now)
    for moved in earlier_starts(person, await rules_of(uow, person)):
        await uow.enrollments.set_year_start(
            moved.enrollment_id, moved.insurance_year, moved.wait.months, moved.wait.coverage_starts
        )
        await uow.coverage.record(
            RecordKind.RESTART, cause_id, moved.enrollment_id, moved.insurance_year, now, wait_to_json(moved.wait)
        )
        log.info(
            "coverage_start_moved",
            enrollment_id=moved.enrollment_id,
            insurance_year=moved.insurance_year,
            covered_from=moved.wait.coverage_starts.isoformat(),
        )


async def load_history(uow: RegistrationUnitOfWork, number: str, now: dt.datetime) -> PersonHistory:
    """What insurance knows of a person's enrollment: every region, every scheme, every repair."""
    enrollments = await uow.enrollments.of_person(number)
    external = await uow.external.all_of(number)
    return person_history(enrollments, external, await uow.repairs.years_of(number), cst_date(now))


async def rules_of(uow: RegistrationUnitOfWork, person: PersonHistory) -> dict[tuple[str, int, int], LongTermRules]:
    """The long-term terms of the policy version each of the person's years was assessed under."""
    return await uow.regions.long_term_of(
        [(e.region_code, y.insurance_year, y.policy_version) for e in person.enrollments for y in e.years]
    )


async def withdraw_coverage(event: events_pb2.PaymentRefunded, uow: RegistrationUnitOfWork, clock: Clock) -> None:
    touched: set[str] = set()
    for item in _repair_items(event.items):
        # A refunded repair counts as missed again; waits already shortened by it stay (never cut back).
        if await uow.repairs.withdraw(item.resident_id_number, item.insurance_year, event.payment_id):
            log.info("repair_withdrawn", enrollment_id=item.enrollment_id, repaired_year=item.insurance_year)
    for item in _medical_items(event.items):
        enrollment = await uow.enrollments.get(item.enrollment_id, for_update=True)
        if enrollment is None:
            raise LookupError(f"enrollment {item.enrollment_id} not found")
        year = next((y for y in enrollment.years if y.insurance_year == item.insurance_year), None)
        if year is None or not should_withdraw(year, event.payment_id):
            continue
        await uow.enrollments.set_years_uncovered(
            item.enrollment_id, [item.insurance_year], status_after_refund(enrollment.state)
        )
        await uow.coverage.record(
            RecordKind.WITHDRAWAL, event.payment_id, item.enrollment_id, item.insurance_year, clock.now()
        )
        touched.add(item.resident_id_number)
        log.info("coverage_withdrawn", enrollment_id=item.enrollment_id, insurance_year=item.insurance_year)
    await uow.projection.refresh(sorted(touched), clock.now())
