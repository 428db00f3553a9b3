"""CollectionService RPCs for bank deduction agreements (R27): a mixin of the servicer
(services/collection/grpc_api.py). Translate, call the use case, respond."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from medins.collection.v1 import collection_service_pb2 as pb

from services.collection import reports_convert
from services.collection.card_vault import CardVault
from services.collection.gateways.sms import SmsGateway
from services.collection.handlers import agreements
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.mutations import run_mutation

Context = grpc.aio.ServicerContext[Any, Any]


class AgreementsApi:
    """Needs the servicer's unit-of-work factory, clock, card vault and SMS gateway."""

    _uow: Callable[[], CollectionUnitOfWork]
    _clock: Clock
    _vault: CardVault
    _sms: SmsGateway

    # -- deduction agreements (R27) ---------------------------------------------------------------

    async def CreateDeductionAgreement(
        self, request: pb.CreateDeductionAgreementRequest, context: Context
    ) -> pb.CreateDeductionAgreementResponse:
        command = reports_convert.sign_command(request)

        async def action(uow: CollectionUnitOfWork) -> pb.CreateDeductionAgreementResponse:
            agreement = await agreements.sign_agreement(command, uow, self._clock, self._vault, self._sms)
            return pb.CreateDeductionAgreementResponse(agreement=reports_convert.agreement_to_proto(agreement))

        # The request id's fingerprint is stored: it is taken over a keyed digest of the card, not the card.
        fingerprinted = pb.CreateDeductionAgreementRequest()
        fingerprinted.CopyFrom(request)
        fingerprinted.card_number = self._vault.blind(request.card_number)
        return await run_mutation(
            self._uow, "CreateDeductionAgreement", fingerprinted, pb.CreateDeductionAgreementResponse, action
        )

    async def ConfirmDeductionAgreement(
        self, request: pb.ConfirmDeductionAgreementRequest, context: Context
    ) -> pb.ConfirmDeductionAgreementResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.ConfirmDeductionAgreementResponse:
            agreement = await agreements.confirm_agreement(
                request.payer_id_number, request.agreement_id, request.verification_code, uow, self._clock
            )
            return pb.ConfirmDeductionAgreementResponse(agreement=reports_convert.agreement_to_proto(agreement))

        return await agreements.confirm_counting_wrong_codes(
            self._uow, request, pb.ConfirmDeductionAgreementResponse, action, self._clock
        )

    async def ListDeductionAgreements(
        self, request: pb.ListDeductionAgreementsRequest, context: Context
    ) -> pb.ListDeductionAgreementsResponse:
        async with self._uow() as uow:
            found = await agreements.list_agreements(request.payer_id_number, uow, self._clock)
        return pb.ListDeductionAgreementsResponse(agreements=[reports_convert.agreement_to_proto(a) for a in found])

    async def RevokeDeductionAgreement(
        self, request: pb.RevokeDeductionAgreementRequest, context: Context
    ) -> pb.RevokeDeductionAgreementResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.RevokeDeductionAgreementResponse:
            agreement = await agreements.revoke_agreement(
                request.payer_id_number, request.agreement_id, uow, self._clock
            )
            return pb.RevokeDeductionAgreementResponse(agreement=reports_convert.agreement_to_proto(agreement))

        return await run_mutation(
            self._uow, "RevokeDeductionAgreement", request, pb.RevokeDeductionAgreementResponse, action
        )
