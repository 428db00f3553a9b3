"""Proto ↔ domain for the registration API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import fields, replace
from typing import Any

from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as pb

from services.common.errors import DomainError, InvalidArgument
from services.common.money import Fen
from services.common.periods import DateRange
from services.common.proto_values import (
    date_to_proto,
    enum_from_proto,
    enum_to_proto,
    range_from_proto,
    range_to_proto,
    timestamp,
)
from services.common.validation import element_refusal
from services.registration.domain import batch
from services.registration.domain.long_term_rules import LongTermRules, default_rules
from services.registration.domain.model import (
    DEFAULT_ELDERLY_AGE,
    DEFAULT_REVIEW_GRACE_DAYS,
    Category,
    Enrollment,
    EnrollmentState,
    Evidence,
    EvidenceKind,
    ExternalEnrollment,
    Region,
    RegionPolicy,
    ReviewMode,
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


def policy_from_proto(value: pb.RegionPolicy) -> RegionPolicy:
    subsidies: dict[Category, Fen] = {}
    for i, item in enumerate(value.category_subsidies):
        key = category(item.category, f"policy.category_subsidies[{i}].category")
        if key in subsidies:
            raise InvalidArgument(
                "DUPLICATE_CATEGORY",
                f"category {key} is listed twice",
                "同一参保身份的资助标准重复",
                field=f"policy.category_subsidies[{i}]",
            )
        subsidies[key] = Fen(item.subsidy_fen)
    window = range_from_proto(value.collection_window, field="policy.collection_window")
    benefit = range_from_proto(value.benefit_period, field="policy.benefit_period")
    mode = enum_from_proto(
        ReviewMode, common_pb2.ReviewMode, value.review_mode, prefix="REVIEW_MODE_", field="policy.review_mode"
    )
    assert mode is not None
    return RegionPolicy(
        region_code=value.region_code.strip(),
        insurance_year=value.insurance_year,
        individual_standard_fen=Fen(value.individual_standard_fen),
        fiscal_subsidy_fen=Fen(value.fiscal_subsidy_fen),
        newborn_standard_fen=Fen(value.newborn_standard_fen),
        category_subsidies=subsidies,
        collection_window=DateRange(*window),
        benefit_period=DateRange(*benefit),
        review_mode=mode,
        demo_data=value.demo_data,
        review_grace_days=value.review_grace_days if value.HasField("review_grace_days") else DEFAULT_REVIEW_GRACE_DAYS,
        long_term=rules_from_proto(value.long_term, value.insurance_year),
        evidence=evidence_rules_from_proto(value.evidence_rules),
        elderly_age=value.elderly_age if value.HasField("elderly_age") else DEFAULT_ELDERLY_AGE,
    )


def policy_to_proto(policy: RegionPolicy) -> pb.RegionPolicy:
    return pb.RegionPolicy(
        region_code=policy.region_code,
        insurance_year=policy.insurance_year,
        version=policy.version,
        individual_standard_fen=policy.individual_standard_fen,
        fiscal_subsidy_fen=policy.fiscal_subsidy_fen,
        newborn_standard_fen=policy.newborn_standard_fen,
        category_subsidies=[
            pb.CategorySubsidy(category=enum_to_proto(common_pb2.Category, c, prefix="CATEGORY_"), subsidy_fen=fen)
            for c, fen in sorted(policy.category_subsidies.items())
        ],
        collection_window=range_to_proto(policy.collection_window.start, policy.collection_window.end),
        benefit_period=range_to_proto(policy.benefit_period.start, policy.benefit_period.end),
        review_mode=enum_to_proto(common_pb2.ReviewMode, policy.review_mode, prefix="REVIEW_MODE_"),
        demo_data=policy.demo_data,
        create_time=timestamp(policy.created_at),
        review_grace_days=policy.review_grace_days,
        long_term=rules_to_proto(policy.rules),
        evidence_rules=[
            pb.EvidenceRule(
                category=enum_to_proto(common_pb2.Category, category, prefix="CATEGORY_"),
                groups=[
                    pb.EvidenceGroup(
                        any_of=[enum_to_proto(pb.EvidenceKind, k, prefix="EVIDENCE_KIND_") for k in sorted(group)]
                    )
                    for group in groups
                ],
            )
            for category, groups in sorted((policy.evidence or {}).items())
        ],
        elderly_age=policy.elderly_age,
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


_RULE_FIELDS = tuple(f.name for f in fields(LongTermRules))


def rules_from_proto(value: pb.LongTermRules, insurance_year: int) -> LongTermRules:
    """The long-term terms a request sets; a field left unset takes the year's national default."""
    base = default_rules(insurance_year)
    given: dict[str, Any] = {
        name: getattr(value, name)
        for name in _RULE_FIELDS
        if name != "exempt_reasons" and value.HasField(name)  # type: ignore[arg-type]
    }
    given["exempt_reasons"] = tuple(r.strip() for r in value.exempt_reasons) or base.exempt_reasons
    return replace(base, **given)


def rules_to_proto(rules: LongTermRules) -> pb.LongTermRules:
    return pb.LongTermRules(**{name: getattr(rules, name) for name in _RULE_FIELDS})


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


def evidence_rules_from_proto(
    rules: Iterable[pb.EvidenceRule],
) -> dict[Category, tuple[frozenset[EvidenceKind], ...]] | None:
    """R45: the documents per category a policy sets; none given: the defaults."""
    found: dict[Category, tuple[frozenset[EvidenceKind], ...]] = {}
    for i, rule in enumerate(rules):
        key = category(rule.category, f"policy.evidence_rules[{i}].category")
        if key in found:
            raise InvalidArgument(
                "DUPLICATE_CATEGORY",
                f"category {key} has two evidence rules",
                "同一参保身份的材料规则重复",
                field=f"policy.evidence_rules[{i}]",
            )
        found[key] = tuple(
            frozenset(
                _evidence_kind(k, f"policy.evidence_rules[{i}].groups[{g}].any_of[{n}]")
                for n, k in enumerate(group.any_of)
            )
            for g, group in enumerate(rule.groups)
        )
    return found or None


def _evidence_kind(value: int, field: str) -> EvidenceKind:
    kind = enum_from_proto(EvidenceKind, pb.EvidenceKind, value, prefix="EVIDENCE_KIND_", field=field)
    assert kind is not None
    return kind
