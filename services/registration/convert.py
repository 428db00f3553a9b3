"""Proto ↔ domain for the registration API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as pb

from services.common.errors import DomainError
from services.common.proto_values import (
    date_to_proto,
    enum_from_proto,
    enum_to_proto,
    range_to_proto,
    timestamp,
)
from services.common.validation import element_refusal
from services.registration.domain import batch
from services.registration.domain.model import (
    Category,
    Enrollment,
    EnrollmentState,
    Evidence,
    EvidenceKind,
    ExternalEnrollment,
    Region,
    Scheme,
    School,
    StopReason,
)
from services.registration.domain.repair import Quote, RepairOffer
from services.registration.domain.waiting import explain
from services.registration.handlers.lookups import PersonCoverage


def category(value: int, field: str = "category") -> Category:
    found = enum_from_proto(Category, common_pb2.Category, value, prefix="CATEGORY_", field=field)
    assert found is not None
    return found


def scheme(value: int, field: str = "scheme") -> Scheme:
    found = enum_from_proto(Scheme, common_pb2.Scheme, value, prefix="SCHEME_", field=field)
    assert found is not None
    return found


def stop_reason(value: int) -> StopReason:
    found = enum_from_proto(StopReason, pb.StopReason, value, prefix="STOP_REASON_", field="reason")
    assert found is not None
    return found


def enrollment_state(value: int) -> EnrollmentState | None:
    return enum_from_proto(
        EnrollmentState, common_pb2.EnrollmentState, value, prefix="ENROLLMENT_STATE_", field="state", required=False
    )


def evidence(items: Iterable[pb.Evidence], field: str = "evidence") -> tuple[Evidence, ...]:
    found = []
    for i, item in enumerate(items):
        kind = enum_from_proto(
            EvidenceKind, pb.EvidenceKind, item.kind, prefix="EVIDENCE_KIND_", field=f"{field}[{i}].kind"
        )
        assert kind is not None
        found.append(Evidence(kind, item.document_ref.strip()))
    return tuple(found)


def batch_row(row: pb.RegistrationRow) -> batch.Row:
    """A template row; a field breaking its rule, a bad category or evidence kind becomes that row's
    error, not the call's (R9 over R34). The row is put in canonical form first, so a resubmission of the
    same file matches its fingerprint whatever width its digits were typed in."""
    refusal = element_refusal(row)
    parsed_category: Category | DomainError
    parsed_evidence: tuple[Evidence, ...] | DomainError
    try:
        parsed_category = category(row.category)
    except DomainError as error:
        parsed_category = error
    try:
        parsed_evidence = evidence(row.evidence)
    except DomainError as error:
        parsed_evidence = error
    return batch.Row(
        row_number=row.row_number,
        resident_id_number=row.resident_id_number,
        name=row.name,
        phone=row.phone,
        region_code=row.region_code.strip(),
        school_code=row.school_code.strip(),
        category=parsed_category,
        evidence=parsed_evidence,
        fingerprint=batch.row_fingerprint(row.SerializeToString(deterministic=True)),
        refusal=refusal,
    )


def row_result_to_proto(result: batch.RowResult) -> pb.RowResult:
    error = None
    if result.outcome is batch.RowOutcome.REFUSED:
        error = common_pb2.ItemError(
            reason=result.error_reason or "",
            field=result.error_field or "",
            message=result.error_message or "",
            metadata=result.error_metadata,
        )
    return pb.RowResult(
        row_number=result.row_number,
        outcome=pb.RowOutcome.Value(f"ROW_OUTCOME_{result.outcome}"),
        enrollment_id=result.enrollment_id or "",
        error=error,
    )


def enrollment_to_proto(enrollment: Enrollment) -> pb.Enrollment:
    return pb.Enrollment(
        enrollment_id=enrollment.enrollment_id,
        resident_id_number=enrollment.resident_id_number,
        name=enrollment.name,
        phone=enrollment.phone,
        region_code=enrollment.region_code,
        school_code=enrollment.school_code or "",
        category=enum_to_proto(common_pb2.Category, enrollment.category, prefix="CATEGORY_"),
        state=enum_to_proto(common_pb2.EnrollmentState, enrollment.state, prefix="ENROLLMENT_STATE_"),
        evidence=[
            pb.Evidence(
                kind=enum_to_proto(pb.EvidenceKind, e.kind, prefix="EVIDENCE_KIND_"), document_ref=e.document_ref
            )
            for e in enrollment.evidence
        ],
        birth_date=date_to_proto(enrollment.birth_date),
        years=[
            pb.EnrollmentYear(
                insurance_year=y.insurance_year,
                status=enum_to_proto(pb.EnrollmentYearStatus, y.status, prefix="ENROLLMENT_YEAR_STATUS_"),
                coverage_period=range_to_proto(y.coverage.start, y.coverage.end),
                newborn_current_year=y.newborn_current_year,
                paid_on=date_to_proto(y.paid_on) if y.paid_on else None,
                wait_months=y.wait_months,
                covered_from=date_to_proto(y.covered_period.start) if y.paid_on else None,
            )
            for y in enrollment.years
        ],
        rejection_reason=enrollment.rejection_reason or "",
        stop_reason=enum_to_proto(pb.StopReason, enrollment.stop_reason, prefix="STOP_REASON_"),
        stop_note=enrollment.stop_note or "",
        create_time=timestamp(enrollment.created_at),
        update_time=timestamp(enrollment.updated_at),
        stop_time=timestamp(enrollment.stopped_at),
    )


def external_to_proto(external: ExternalEnrollment) -> pb.ExternalEnrollment:
    return pb.ExternalEnrollment(
        external_enrollment_id=external.external_enrollment_id,
        resident_id_number=external.resident_id_number,
        name=external.name,
        region_code=external.region_code,
        region_name=external.region_name,
        scheme=enum_to_proto(common_pb2.Scheme, external.scheme, prefix="SCHEME_"),
        reporting_agency=external.reporting_agency,
        active=external.active,
        create_time=timestamp(external.created_at),
        end_time=timestamp(external.ended_at),
    )


def region_to_proto(region: Region) -> pb.Region:
    return pb.Region(region_code=region.code, name=region.name)


def school_to_proto(school: School) -> pb.School:
    return pb.School(school_code=school.code, name=school.name, region_code=school.region_code)


def repair_to_proto(offer: RepairOffer, starts: dt.date | None = None) -> pb.RepairYear:
    found = pb.RepairYear(repaired_year=offer.repaired_year, amount_fen=offer.standard_fen - offer.subsidy_fen)
    if starts is not None:
        found.coverage_start_if_repaired.CopyFrom(date_to_proto(starts))
    return found


def quote_to_proto(quote: Quote) -> pb.QuoteCoverageResponse:
    return pb.QuoteCoverageResponse(
        wait_months=quote.wait.months,
        coverage_start=date_to_proto(quote.wait.coverage_starts),
        gap_years=quote.wait.gap_years,
        exemption=quote.wait.exemption.value if quote.wait.exemption else "",
        repairs=[repair_to_proto(step.offer, step.coverage_start_if_repaired) for step in quote.repairs],
        idle_repair_years=list(quote.idle_years),
        least_wait_months=quote.least_wait_months,
    )


def person_coverage_to_proto(found: PersonCoverage) -> pb.GetPersonCoverageResponse:
    return pb.GetPersonCoverageResponse(
        enrollments=[enrollment_to_proto(e) for e in found.enrollments],
        records=[
            pb.CoverageRecord(
                enrollment_id=r.enrollment_id,
                insurance_year=r.insurance_year,
                kind=r.kind.value,
                payment_id=r.payment_id,
                record_time=timestamp(r.recorded_at),
                wait_months=int(r.wait["months"]) if r.wait else 0,
                coverage_start=date_to_proto(dt.date.fromisoformat(str(r.wait["coverage_starts"]))) if r.wait else None,
                explanation=explain(r.wait) if r.wait is not None else "",
            )
            for r in found.records
        ],
        repaired_years=found.repaired_years,
        incentive=[
            pb.IncentiveYear(
                insurance_year=i.year, continuous_years=i.continuous_years, serious_illness_cap_fen=i.cap_fen
            )
            for i in found.incentive
        ],
    )
