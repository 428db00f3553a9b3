"""RegistrationService over gRPC: translate, call the use case, respond. No rules here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from medins.registration.v1 import registration_service_pb2 as pb
from medins.registration.v1 import registration_service_pb2_grpc as pb_grpc

from services.common.clock import Clock
from services.common.errors import NotFound
from services.common.mutations import run_mutation
from services.common.pagination import page_request
from services.common.proto_values import date_from_proto
from services.registration import convert, policy_convert
from services.registration.domain.batch import check_row_count
from services.registration.domain.model import EnrollmentState, Region, School, WaitExemption
from services.registration.handlers import administration, external, fund_use, repair, review, stop
from services.registration.handlers.batch import register_batch
from services.registration.handlers.lookups import load_enrollment, load_policy, person_coverage
from services.registration.handlers.registration import Application, register_resident
from services.registration.unit_of_work import RegistrationUnitOfWork

Context = grpc.aio.ServicerContext[Any, Any]


class RegistrationServicer(pb_grpc.RegistrationServiceServicer):
    def __init__(self, uow_factory: Callable[[], RegistrationUnitOfWork], clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock

    async def RegisterResident(
        self, request: pb.RegisterResidentRequest, context: Context
    ) -> pb.RegisterResidentResponse:
        application = Application(
            key=0,
            resident_id_number=request.resident_id_number,
            name=request.name,
            phone=request.phone,
            region_code=request.region_code.strip() or None,
            school_code=request.school_code.strip() or None,
            category=convert.category(request.category),
            evidence=convert.evidence(request.evidence),
            wait_exemption=WaitExemption(request.wait_exemption.reason.strip(), request.wait_exemption.document_ref)
            if request.HasField("wait_exemption")
            else None,
        )

        async def action(uow: RegistrationUnitOfWork) -> pb.RegisterResidentResponse:
            enrollment = await register_resident(application, uow, self._clock)
            return pb.RegisterResidentResponse(enrollment=convert.enrollment_to_proto(enrollment))

        return await run_mutation(self._uow, "RegisterResident", request, pb.RegisterResidentResponse, action)

    async def BatchRegisterResidents(
        self, request: pb.BatchRegisterResidentsRequest, context: Context
    ) -> pb.BatchRegisterResidentsResponse:
        check_row_count(len(request.rows))  # before any row is looked at (R41)
        rows = [convert.batch_row(row) for row in request.rows]

        async def action(uow: RegistrationUnitOfWork) -> pb.BatchRegisterResidentsResponse:
            results = await register_batch(request.batch_id, request.submitter_code, rows, uow, self._clock)
            return pb.BatchRegisterResidentsResponse(
                batch_id=request.batch_id, results=[convert.row_result_to_proto(r) for r in results]
            )

        return await run_mutation(
            self._uow, "BatchRegisterResidents", request, pb.BatchRegisterResidentsResponse, action
        )

    async def GetRegistrationBatch(
        self, request: pb.GetRegistrationBatchRequest, context: Context
    ) -> pb.GetRegistrationBatchResponse:
        page = page_request(
            request.page_size,
            request.page_token,
            filters={"batch": request.batch_id, "refused_only": request.refused_only},
            default=500,
            maximum=2000,
        )
        async with self._uow() as uow:
            summary = await uow.batches.summary(request.batch_id)
            if summary is None:
                raise NotFound(
                    "BATCH_NOT_FOUND",
                    f"batch {request.batch_id} not found",
                    f"批次{request.batch_id}不存在",
                    field="batch_id",
                    metadata={"batch_id": request.batch_id},
                )
            results = await uow.batches.page(
                request.batch_id, request.refused_only, int(page.cursor[0]) if page.cursor else 0, page.size
            )
        return pb.GetRegistrationBatchResponse(
            batch_id=summary.batch_id,
            submitter_code=summary.submitter_code,
            row_count=summary.row_count,
            accepted_count=summary.accepted_count,
            refused_count=summary.refused_count,
            results=[convert.row_result_to_proto(r) for r in results],
            next_page_token=page.next_token((results[-1].row_number,), len(results)) if results else "",
        )

    async def ApproveRegistration(
        self, request: pb.ApproveRegistrationRequest, context: Context
    ) -> pb.ApproveRegistrationResponse:
        command = review.ReviewRegistration(request.enrollment_id, request.officer_id, request.note)

        async def action(uow: RegistrationUnitOfWork) -> pb.ApproveRegistrationResponse:
            enrollment = await review.approve_registration(command, uow, self._clock)
            return pb.ApproveRegistrationResponse(enrollment=convert.enrollment_to_proto(enrollment))

        return await run_mutation(self._uow, "ApproveRegistration", request, pb.ApproveRegistrationResponse, action)

    async def RejectRegistration(
        self, request: pb.RejectRegistrationRequest, context: Context
    ) -> pb.RejectRegistrationResponse:
        command = review.ReviewRegistration(request.enrollment_id, request.officer_id, request.reason)

        async def action(uow: RegistrationUnitOfWork) -> pb.RejectRegistrationResponse:
            enrollment = await review.reject_registration(command, uow, self._clock)
            return pb.RejectRegistrationResponse(enrollment=convert.enrollment_to_proto(enrollment))

        return await run_mutation(self._uow, "RejectRegistration", request, pb.RejectRegistrationResponse, action)

    async def StopEnrollment(self, request: pb.StopEnrollmentRequest, context: Context) -> pb.StopEnrollmentResponse:
        command = stop.StopEnrollment(request.enrollment_id, convert.stop_reason(request.reason), request.note)

        async def action(uow: RegistrationUnitOfWork) -> pb.StopEnrollmentResponse:
            enrollment = await stop.stop_enrollment(command, uow, self._clock)
            return pb.StopEnrollmentResponse(enrollment=convert.enrollment_to_proto(enrollment))

        return await run_mutation(self._uow, "StopEnrollment", request, pb.StopEnrollmentResponse, action)

    async def GetEnrollment(self, request: pb.GetEnrollmentRequest, context: Context) -> pb.GetEnrollmentResponse:
        async with self._uow() as uow:
            enrollment = await load_enrollment(uow, request.enrollment_id)
        return pb.GetEnrollmentResponse(enrollment=convert.enrollment_to_proto(enrollment))

    async def ListEnrollments(self, request: pb.ListEnrollmentsRequest, context: Context) -> pb.ListEnrollmentsResponse:
        state = convert.enrollment_state(request.state)
        page = page_request(
            request.page_size,
            request.page_token,
            filters={"region": request.region_code, "state": state},
            default=100,
            maximum=1000,
        )
        async with self._uow() as uow:
            found = await uow.selection.list_by_region(
                request.region_code, state, (page.cursor[0], page.cursor[1]) if page.cursor else None, page.size
            )
        token = (
            page.next_token((found[-1].created_at.isoformat(), found[-1].enrollment_id), len(found)) if found else ""
        )
        return pb.ListEnrollmentsResponse(
            enrollments=[convert.enrollment_to_proto(e) for e in found], next_page_token=token
        )

    async def ListAgedOutEnrollments(
        self, request: pb.ListAgedOutEnrollmentsRequest, context: Context
    ) -> pb.ListAgedOutEnrollmentsResponse:
        page = page_request(
            request.page_size,
            request.page_token,
            filters={"region": request.region_code, "year": request.insurance_year},
            default=100,
            maximum=1000,
        )
        async with self._uow() as uow:
            found = await uow.selection.list_ended_in(
                EnrollmentState.AGED_OUT,
                request.region_code,
                request.insurance_year,
                page.cursor[0] if page.cursor else None,
                page.size,
            )
        token = page.next_token((found[-1].enrollment_id,), len(found)) if found else ""
        return pb.ListAgedOutEnrollmentsResponse(
            enrollments=[convert.enrollment_to_proto(e) for e in found], next_page_token=token
        )

    async def RecordExternalEnrollment(
        self, request: pb.RecordExternalEnrollmentRequest, context: Context
    ) -> pb.RecordExternalEnrollmentResponse:
        command = external.RecordExternalEnrollment(
            resident_id_number=request.resident_id_number,
            name=request.name,
            region_code=request.region_code,
            region_name=request.region_name,
            scheme=convert.scheme(request.scheme),
            reporting_agency=request.reporting_agency,
        )

        async def action(uow: RegistrationUnitOfWork) -> pb.RecordExternalEnrollmentResponse:
            recorded = await external.record_external_enrollment(command, uow, self._clock)
            return pb.RecordExternalEnrollmentResponse(external_enrollment=convert.external_to_proto(recorded))

        return await run_mutation(
            self._uow, "RecordExternalEnrollment", request, pb.RecordExternalEnrollmentResponse, action
        )

    async def EndExternalEnrollment(
        self, request: pb.EndExternalEnrollmentRequest, context: Context
    ) -> pb.EndExternalEnrollmentResponse:
        async def action(uow: RegistrationUnitOfWork) -> pb.EndExternalEnrollmentResponse:
            ended = await external.end_external_enrollment(
                request.external_enrollment_id, request.reason, uow, self._clock
            )
            return pb.EndExternalEnrollmentResponse(external_enrollment=convert.external_to_proto(ended))

        return await run_mutation(self._uow, "EndExternalEnrollment", request, pb.EndExternalEnrollmentResponse, action)

    async def RecordFundUse(self, request: pb.RecordFundUseRequest, context: Context) -> pb.RecordFundUseResponse:
        command = fund_use.RecordFundUse(
            request.resident_id_number, request.insurance_year, request.settlement_id, request.fund_paid_fen
        )

        async def action(uow: RegistrationUnitOfWork) -> pb.RecordFundUseResponse:
            recorded, cap = await fund_use.record_fund_use(command, uow, self._clock)
            return pb.RecordFundUseResponse(recorded=recorded, next_year_cap_fen=cap)

        return await run_mutation(self._uow, "RecordFundUse", request, pb.RecordFundUseResponse, action)

    async def QuoteCoverage(self, request: pb.QuoteCoverageRequest, context: Context) -> pb.QuoteCoverageResponse:
        day = date_from_proto(request.paid_on, field="paid_on") if request.HasField("paid_on") else None
        async with self._uow() as uow:
            quote = await repair.quote_coverage(
                request.resident_id_number, request.insurance_year, day, uow, self._clock
            )
        return convert.quote_to_proto(quote)

    async def OfferRepairs(self, request: pb.OfferRepairsRequest, context: Context) -> pb.OfferRepairsResponse:
        async def action(uow: RegistrationUnitOfWork) -> pb.OfferRepairsResponse:
            offers = await repair.offer_repairs(request.resident_id_number, request.insurance_year, uow, self._clock)
            return pb.OfferRepairsResponse(repairs=[convert.repair_to_proto(o) for o in offers])

        return await run_mutation(self._uow, "OfferRepairs", request, pb.OfferRepairsResponse, action)

    async def GetPersonCoverage(
        self, request: pb.GetPersonCoverageRequest, context: Context
    ) -> pb.GetPersonCoverageResponse:
        async with self._uow() as uow:
            found = await person_coverage(request.resident_id_number, uow, self._clock)
        return convert.person_coverage_to_proto(found)

    async def CreateRegion(self, request: pb.CreateRegionRequest, context: Context) -> pb.CreateRegionResponse:
        region = Region(request.region.region_code, request.region.name)

        async def action(uow: RegistrationUnitOfWork) -> pb.CreateRegionResponse:
            created = await administration.create_region(region, uow, self._clock)
            return pb.CreateRegionResponse(region=convert.region_to_proto(created))

        return await run_mutation(self._uow, "CreateRegion", request, pb.CreateRegionResponse, action)

    async def ListRegions(self, request: pb.ListRegionsRequest, context: Context) -> pb.ListRegionsResponse:
        page = page_request(request.page_size, request.page_token, filters={}, default=100, maximum=1000)
        async with self._uow() as uow:
            found = await uow.regions.list_regions(page.cursor[0] if page.cursor else None, page.size)
        token = page.next_token((found[-1].code,), len(found)) if found else ""
        return pb.ListRegionsResponse(regions=[convert.region_to_proto(r) for r in found], next_page_token=token)

    async def CreateSchool(self, request: pb.CreateSchoolRequest, context: Context) -> pb.CreateSchoolResponse:
        school = School(request.school.school_code, request.school.name, request.school.region_code)

        async def action(uow: RegistrationUnitOfWork) -> pb.CreateSchoolResponse:
            created = await administration.create_school(school, uow, self._clock)
            return pb.CreateSchoolResponse(school=convert.school_to_proto(created))

        return await run_mutation(self._uow, "CreateSchool", request, pb.CreateSchoolResponse, action)

    async def ListSchools(self, request: pb.ListSchoolsRequest, context: Context) -> pb.ListSchoolsResponse:
        page = page_request(
            request.page_size, request.page_token, filters={"region": request.region_code}, default=100, maximum=1000
        )
        async with self._uow() as uow:
            found = await uow.regions.list_schools(
                request.region_code, page.cursor[0] if page.cursor else None, page.size
            )
        token = page.next_token((found[-1].code,), len(found)) if found else ""
        return pb.ListSchoolsResponse(schools=[convert.school_to_proto(s) for s in found], next_page_token=token)

    async def SetRegionPolicy(self, request: pb.SetRegionPolicyRequest, context: Context) -> pb.SetRegionPolicyResponse:
        policy = policy_convert.policy_from_proto(request.policy)

        async def action(uow: RegistrationUnitOfWork) -> pb.SetRegionPolicyResponse:
            stored = await administration.set_region_policy(policy, uow, self._clock)
            return pb.SetRegionPolicyResponse(policy=policy_convert.policy_to_proto(stored))

        return await run_mutation(self._uow, "SetRegionPolicy", request, pb.SetRegionPolicyResponse, action)

    async def GetRegionPolicy(self, request: pb.GetRegionPolicyRequest, context: Context) -> pb.GetRegionPolicyResponse:
        async with self._uow() as uow:
            policy = await load_policy(uow, request.region_code, request.insurance_year, request.version)
        return pb.GetRegionPolicyResponse(policy=policy_convert.policy_to_proto(policy))

    async def ListRegionPolicies(
        self, request: pb.ListRegionPoliciesRequest, context: Context
    ) -> pb.ListRegionPoliciesResponse:
        page = page_request(
            request.page_size, request.page_token, filters={"region": request.region_code}, default=100, maximum=1000
        )
        async with self._uow() as uow:
            found = await uow.regions.list_current_policies(
                request.region_code, (page.cursor[0], page.cursor[1]) if page.cursor else None, page.size
            )
        token = page.next_token((found[-1].region_code, found[-1].insurance_year), len(found)) if found else ""
        return pb.ListRegionPoliciesResponse(
            policies=[policy_convert.policy_to_proto(p) for p in found], next_page_token=token
        )
