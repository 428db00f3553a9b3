"""CollectionService RPCs for reconciliation (R30) and collection results (R29): a mixin of the servicer
(services/collection/grpc_api.py). Translate, call the use case, respond."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from medins.collection.v1 import collection_service_pb2 as pb

from services.collection import convert, reports_convert
from services.collection.domain.reconciliation import checked_chunk
from services.collection.handlers import reconciliation, results
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.mutations import run_mutation
from services.common.proto_values import date_from_proto

Context = grpc.aio.ServicerContext[Any, Any]


class ReportsApi:
    """Needs the servicer's unit-of-work factory and clock."""

    _uow: Callable[[], CollectionUnitOfWork]
    _clock: Clock

    # -- reconciliation (R30) and results (R29) ---------------------------------------------------

    async def ImportChannelSettlement(
        self, request: pb.ImportChannelSettlementRequest, context: Context
    ) -> pb.ImportChannelSettlementResponse:
        channel = convert.channel(request.channel)
        day = date_from_proto(request.settlement_date, field="settlement_date")
        chunk = checked_chunk(
            request.upload_id, request.chunk_index, request.chunk_count, len(request.records), request.request_id
        )
        lines = reports_convert.settlement_lines(request, single_chunk=chunk.count == 1)

        async def action(uow: CollectionUnitOfWork) -> pb.ImportChannelSettlementResponse:
            result = await reconciliation.import_settlement(channel, day, chunk, lines, uow, self._clock)
            return pb.ImportChannelSettlementResponse(
                record_count=result.record_count,
                complete=result.complete,
                report_version=result.version,
                unchanged=result.unchanged,
                chunks_received=result.chunks_received,
            )

        return await run_mutation(
            self._uow, "ImportChannelSettlement", request, pb.ImportChannelSettlementResponse, action
        )

    async def GetReconciliationReport(
        self, request: pb.GetReconciliationReportRequest, context: Context
    ) -> pb.GetReconciliationReportResponse:
        channel = convert.channel(request.channel)
        day = date_from_proto(request.settlement_date, field="settlement_date")
        async with self._uow() as uow:
            report = await reconciliation.reconciliation_report(channel, day, request.version, uow)
        return reports_convert.report_to_proto(report)

    async def GetCollectionResults(
        self, request: pb.GetCollectionResultsRequest, context: Context
    ) -> pb.GetCollectionResultsResponse:
        async with self._uow() as uow:
            found = await results.collection_results(request.region_code, request.insurance_year, uow, self._clock)
        return reports_convert.results_to_proto(found)
