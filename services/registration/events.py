"""Insurance-side domain values → event payloads for the tax side (R33)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TypeVar

from medins.common.v1 import common_pb2
from medins.events.v1 import events_pb2

from services.common.proto_values import channel_openings_to_proto, date_to_proto, range_to_proto, timestamp
from services.registration.domain.lifecycle import eighteenth_birthday
from services.registration.domain.model import Enrollment
from services.registration.domain.registration import YearAssessment
from services.registration.domain.repair import RepairOffer, repair_coverage_period


def person(enrollment: Enrollment) -> events_pb2.InsuredPerson:
    return events_pb2.InsuredPerson(
        resident_id_number=enrollment.resident_id_number,
        name=enrollment.name,
        birth_date=date_to_proto(enrollment.birth_date),
    )


def assessment(enrollment: Enrollment, year: YearAssessment) -> events_pb2.AssessmentBasis:
    basis = events_pb2.AssessmentBasis(
        insurance_year=year.insurance_year,
        fee_type=common_pb2.FEE_TYPE_RESIDENT_MEDICAL,
        standard_fen=year.standard_fen,
        subsidy_fen=year.subsidy_fen,
        policy_version=year.policy_version,
        collection_window=range_to_proto(year.collection_window.start, year.collection_window.end),
        coverage_period=range_to_proto(year.coverage.start, year.coverage.end),
        newborn_current_year=year.newborn_current_year,
    )
    basis.payable_until.CopyFrom(date_to_proto(year.payable.end))
    basis.channel_openings.extend(channel_openings_to_proto(year.channel_openings))
    if year.newborn_current_year or year.payable != year.collection_window:
        basis.newborn_deadline.CopyFrom(date_to_proto(year.payable.end))  # for consumers before payable_until
    return basis


def registered(enrollment: Enrollment, years: Sequence[YearAssessment]) -> events_pb2.EnrollmentRegistered:
    """enrollment.registered: the enrollment turned active; these years are payable now."""
    return _payable(events_pb2.EnrollmentRegistered, enrollment, years)


def renewed(enrollment: Enrollment, years: Sequence[YearAssessment]) -> events_pb2.EnrollmentRenewed:
    """enrollment.renewed: the enrollment was carried into these years (R10)."""
    return _payable(events_pb2.EnrollmentRenewed, enrollment, years)


P = TypeVar("P", events_pb2.EnrollmentRegistered, events_pb2.EnrollmentRenewed)


def _payable(message: type[P], enrollment: Enrollment, years: Sequence[YearAssessment]) -> P:
    return message(
        enrollment_id=enrollment.enrollment_id,
        enrollment_sequence=enrollment.sequence,
        person=person(enrollment),
        region_code=enrollment.region_code,
        category=common_pb2.Category.Value(f"CATEGORY_{enrollment.category}"),
        assessments=[assessment(enrollment, y) for y in years],
    )


def stopped(enrollment: Enrollment, at: dt.datetime) -> events_pb2.EnrollmentStopped:
    """enrollment.stopped, from the enrollment as the stop left it."""
    assert enrollment.stop_reason is not None
    return events_pb2.EnrollmentStopped(
        enrollment_id=enrollment.enrollment_id,
        enrollment_sequence=enrollment.sequence,
        resident_id_number=enrollment.resident_id_number,
        region_code=enrollment.region_code,
        reason=enrollment.stop_reason.value,
        stop_time=timestamp(at),
    )


def aged_out(enrollment: Enrollment, at: dt.datetime) -> events_pb2.EnrollmentAgedOut:
    """enrollment.aged_out, from the enrollment as the age-out left it."""
    return events_pb2.EnrollmentAgedOut(
        enrollment_id=enrollment.enrollment_id,
        enrollment_sequence=enrollment.sequence,
        resident_id_number=enrollment.resident_id_number,
        region_code=enrollment.region_code,
        eighteenth_birthday=date_to_proto(eighteenth_birthday(enrollment.birth_date)),
        stop_time=timestamp(at),
    )


def coverage_refused(
    payment_id: str, items: Sequence[events_pb2.PaidItem], reason: str, at: dt.datetime
) -> events_pb2.CoverageRefused:
    """coverage.refused: these paid items grant nothing here; tax returns the payment (R14a)."""
    return events_pb2.CoverageRefused(
        payment_id=payment_id,
        items=list(items),
        reason=events_pb2.CoverageRefusalReason.Value(f"COVERAGE_REFUSAL_REASON_{reason}"),
        decided_time=timestamp(at),
    )


def repair_offered(enrollment: Enrollment, offers: Sequence[RepairOffer]) -> events_pb2.EnrollmentRepairOffered:
    """enrollment.repair_offered: one repair item per missed year (R38), covering nothing."""
    return events_pb2.EnrollmentRepairOffered(
        enrollment_id=enrollment.enrollment_id,
        enrollment_sequence=enrollment.sequence,
        person=person(enrollment),
        region_code=enrollment.region_code,
        category=common_pb2.Category.Value(f"CATEGORY_{enrollment.category}"),
        assessments=[_repair_basis(o) for o in offers],
    )


def _repair_basis(offer: RepairOffer) -> events_pb2.AssessmentBasis:
    period = repair_coverage_period(offer.repaired_year)
    basis = events_pb2.AssessmentBasis(
        insurance_year=offer.repaired_year,
        fee_type=common_pb2.FEE_TYPE_RESIDENT_MEDICAL_REPAIR,
        standard_fen=offer.standard_fen,
        subsidy_fen=offer.subsidy_fen,
        policy_version=offer.policy_version,
        collection_window=range_to_proto(period.start, offer.payable_until),
        coverage_period=range_to_proto(period.start, period.end),
    )
    basis.payable_until.CopyFrom(date_to_proto(offer.payable_until))
    return basis
