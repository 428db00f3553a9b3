"""Proto ↔ domain for deduction agreements (R27), collection results (R29) and reconciliation (R30)."""

from __future__ import annotations

from medins.collection.v1 import collection_service_pb2 as pb

from services.collection.domain.agreements import Agreement, IdType, Relationship, mask_phone
from services.collection.domain.reconciliation import Finding, Outcome, SettlementLine, checked_line
from services.collection.domain.results import Breakdown, CollectionResults
from services.collection.handlers.agreements import SignAgreement
from services.collection.handlers.reconciliation import Report
from services.common.proto_values import (
    date_to_proto,
    enum_from_proto,
    enum_to_proto,
    from_timestamp,
    range_to_proto,
    timestamp,
)


def sign_command(request: pb.CreateDeductionAgreementRequest) -> SignAgreement:
    id_type = enum_from_proto(IdType, pb.IdType, request.insured_id_type, prefix="ID_TYPE_", field="insured_id_type")
    relationship = enum_from_proto(
        Relationship, pb.Relationship, request.relationship, prefix="RELATIONSHIP_", field="relationship"
    )
    assert id_type is not None and relationship is not None
    return SignAgreement(
        payer_id_number=request.payer_id_number,
        insured_id_type=id_type,
        insured_id_number=request.insured_id_number,
        insured_name=request.insured_name,
        bank_name=request.bank_name,
        card_number=request.card_number,
        card_holder_name=request.card_holder_name,
        card_phone=request.card_phone,
        relationship=relationship,
        consent_given=request.consent_given,
    )


def agreement_to_proto(agreement: Agreement) -> pb.DeductionAgreement:
    return pb.DeductionAgreement(
        agreement_id=agreement.agreement_id,
        payer_id_number=agreement.payer_id_number,
        insured_id_type=enum_to_proto(pb.IdType, agreement.insured_id_type, prefix="ID_TYPE_"),
        insured_id_number=agreement.insured_id_number,
        insured_name=agreement.insured_name,
        bank_name=agreement.bank_name,
        card_last_four=agreement.card_last_four,
        card_holder_name=agreement.card_holder_name,
        masked_phone=mask_phone(agreement.card_phone),
        relationship=enum_to_proto(pb.Relationship, agreement.relationship, prefix="RELATIONSHIP_"),
        status=enum_to_proto(pb.AgreementStatus, agreement.status, prefix="AGREEMENT_STATUS_"),
        create_time=timestamp(agreement.created_at),
        activate_time=timestamp(agreement.activated_at),
        failed_deduction_runs=agreement.failed_deduction_runs,
        wrong_code_attempts=agreement.wrong_code_attempts,
        code_expire_time=timestamp(agreement.code_expires_at),
    )


def settlement_lines(request: pb.ImportChannelSettlementRequest, single_chunk: bool) -> list[SettlementLine]:
    return [
        checked_line(
            i,
            r.line_number,
            r.channel_transaction_id,
            r.order_id,
            r.amount_fen,
            from_timestamp(r.settle_time) if r.HasField("settle_time") else None,
            single_chunk=single_chunk,
        )
        for i, r in enumerate(request.records)
    ]


def report_to_proto(report: Report) -> pb.GetReconciliationReportResponse:
    return pb.GetReconciliationReportResponse(
        matched_count=report.header.matched_count,
        matched_amount_fen=report.header.matched_amount_fen,
        mismatches=[_mismatch(f) for f in report.mismatches],
        version=report.header.version,
        version_count=report.version_count,
        file_record_count=report.header.file_record_count,
        create_time=timestamp(report.header.created_at),
    )


def _mismatch(finding: Finding) -> pb.ReconciliationMismatch:
    assert finding.outcome is not Outcome.MATCHED
    return pb.ReconciliationMismatch(
        kind=enum_to_proto(pb.MismatchKind, finding.outcome, prefix="MISMATCH_KIND_"),
        channel_transaction_id=finding.channel_transaction_id,
        payment_id=finding.payment_id or "",
        tax_amount_fen=finding.tax_amount_fen or 0,
        channel_amount_fen=finding.channel_amount_fen or 0,
        line_number=finding.line_number or 0,
        order_id=finding.order_id or "",
        refused_notification=finding.refused_notification,
    )


def results_to_proto(results: CollectionResults) -> pb.GetCollectionResultsResponse:
    total = results.total
    return pb.GetCollectionResultsResponse(
        assessed_count=total.assessed_count,
        paid_count=total.paid_count,
        subsidised_count=total.subsidised_count,
        unpaid_count=total.unpaid_count,
        paid_amount_fen=total.paid_amount_fen,
        unpaid_amount_fen=total.unpaid_amount_fen,
        enrolled_count=results.enrolled_count,
        paid_person_count=results.paid_person_count,
        collection_window=range_to_proto(results.window.start, results.window.end),
        by_category=[_breakdown(b) for b in results.by_category],
        by_channel=[_breakdown(b) for b in results.by_channel],
        daily=[
            pb.DailyCollection(
                date=date_to_proto(d.date),
                paid_that_day=d.paid_that_day,
                paid_count=d.paid_count,
                unpaid_count=d.unpaid_count,
                paid_amount_fen=d.paid_amount_fen,
            )
            for d in results.daily
        ],
    )


def _breakdown(b: Breakdown) -> pb.CollectionBreakdown:
    return pb.CollectionBreakdown(
        key=b.key,
        assessed_count=b.assessed_count,
        paid_count=b.paid_count,
        unpaid_count=b.unpaid_count,
        paid_amount_fen=b.paid_amount_fen,
        unpaid_amount_fen=b.unpaid_amount_fen,
        subsidised_count=b.subsidised_count,
    )
