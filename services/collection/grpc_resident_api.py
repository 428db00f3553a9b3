"""CollectionService RPCs residents reach through a channel app or a tax desk: family mutual-aid account
bindings (R46) and payment certificates (R48). A mixin of the servicer (services/collection/grpc_api.py),
kept apart so neither file grows past its size: translate, call the use case, respond.

Verifying a certificate is a read, yet it shows a person's payments to whoever holds the number: it leaves
a person-trail row naming the authenticated verifier (R35), as a mutating call does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from medins.collection.v1 import collection_service_pb2 as pb
from medins.common.v1 import common_pb2

from services.collection.domain.agreements import Relationship
from services.collection.domain.certificates import CertifiedYear, PaymentCertificate
from services.collection.domain.family import FamilyMember
from services.collection.handlers import certificates, family
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common import person_trail
from services.common.clock import Clock
from services.common.identity import current_caller
from services.common.logs import current_correlation_id
from services.common.mutations import run_mutation
from services.common.proto_values import enum_from_proto, enum_to_proto, timestamp

Context = grpc.aio.ServicerContext[Any, Any]


class ResidentApi:
    """Needs the servicer's unit-of-work factory and clock."""

    _uow: Callable[[], CollectionUnitOfWork]
    _clock: Clock

    # -- family mutual-aid account bindings (R46) --------------------------------------------------

    async def BindFamilyMember(
        self, request: pb.BindFamilyMemberRequest, context: Context
    ) -> pb.BindFamilyMemberResponse:
        relationship = enum_from_proto(
            Relationship, pb.Relationship, request.relationship, prefix="RELATIONSHIP_", field="relationship"
        )
        assert relationship is not None

        async def action(uow: CollectionUnitOfWork) -> pb.BindFamilyMemberResponse:
            member = await family.bind_member(
                request.holder_id_number,
                request.holder_name,
                request.member_id_number,
                request.member_name,
                relationship,
                uow,
                self._clock,
            )
            return pb.BindFamilyMemberResponse(member=family_member_to_proto(member))

        return await run_mutation(self._uow, "BindFamilyMember", request, pb.BindFamilyMemberResponse, action)

    async def UnbindFamilyMember(
        self, request: pb.UnbindFamilyMemberRequest, context: Context
    ) -> pb.UnbindFamilyMemberResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.UnbindFamilyMemberResponse:
            member = await family.unbind_member(
                request.holder_id_number, request.holder_name, request.member_id_number, uow, self._clock
            )
            return pb.UnbindFamilyMemberResponse(member=family_member_to_proto(member))

        return await run_mutation(self._uow, "UnbindFamilyMember", request, pb.UnbindFamilyMemberResponse, action)

    async def ListFamilyMembers(
        self, request: pb.ListFamilyMembersRequest, context: Context
    ) -> pb.ListFamilyMembersResponse:
        async with self._uow().for_reading() as uow:
            found = await family.members(request.holder_id_number, uow, self._clock)
        return pb.ListFamilyMembersResponse(members=[family_member_to_proto(m) for m in found])

    # -- payment certificates (R48) ----------------------------------------------------------------

    async def IssuePaymentCertificate(
        self, request: pb.IssuePaymentCertificateRequest, context: Context
    ) -> pb.IssuePaymentCertificateResponse:
        issued_by = str(current_caller())

        async def action(uow: CollectionUnitOfWork) -> pb.IssuePaymentCertificateResponse:
            certificate = await certificates.issue_certificate(
                request.resident_id_number, list(request.insurance_years), issued_by, uow, self._clock
            )
            return pb.IssuePaymentCertificateResponse(certificate=certificate_to_proto(certificate))

        return await run_mutation(
            self._uow, "IssuePaymentCertificate", request, pb.IssuePaymentCertificateResponse, action
        )

    async def VerifyPaymentCertificate(
        self, request: pb.VerifyPaymentCertificateRequest, context: Context
    ) -> pb.VerifyPaymentCertificateResponse:
        async with self._uow() as uow:
            certificate = await certificates.verify_certificate(request.certificate_number, uow)
            await person_trail.record(
                uow.conn,
                str(current_caller()),
                "VerifyPaymentCertificate",
                certificate.certificate_number,  # no request id on a read: the number says what was seen
                current_correlation_id(),
                [certificate.resident_id_number],
            )
            await uow.commit()
        return pb.VerifyPaymentCertificateResponse(certificate=certificate_to_proto(certificate))


def certificate_to_proto(certificate: PaymentCertificate) -> pb.PaymentCertificate:
    return pb.PaymentCertificate(
        certificate_number=certificate.certificate_number,
        resident_id_number=certificate.resident_id_number,
        resident_name=certificate.resident_name,
        requested_years=list(certificate.requested_years),
        years=[_year_to_proto(y) for y in certificate.years],
        unpaid_years=list(certificate.unpaid_years),
        total_fen=certificate.total_fen,
        issue_time=timestamp(certificate.issued_at),
        issued_by=certificate.issued_by,
    )


def _year_to_proto(year: CertifiedYear) -> pb.CertifiedYear:
    return pb.CertifiedYear(
        insurance_year=year.insurance_year,
        amount_fen=year.amount_fen,
        receipt_numbers=list(year.receipt_numbers),
        fees=[
            pb.CertifiedFee(
                fee_type=enum_to_proto(common_pb2.FeeType, f.fee_type, prefix="FEE_TYPE_"),
                amount_fen=f.amount_fen,
                receipt_number=f.receipt_number or "",
                paid_time=timestamp(f.paid_at),
                settled_by_subsidy=f.settled_by_subsidy,
                reversed_since_issue=f.reversed_since_issue,
            )
            for f in year.fees
        ],
    )


def family_member_to_proto(member: FamilyMember) -> pb.FamilyMember:
    return pb.FamilyMember(
        holder_id_number=member.holder_id_number,
        holder_name=member.holder_name,
        member_id_number=member.member_id_number,
        member_name=member.member_name,
        relationship=enum_to_proto(pb.Relationship, member.relationship, prefix="RELATIONSHIP_"),
        bind_time=timestamp(member.bound_at),
    )
