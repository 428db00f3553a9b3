"""EnrollmentCheckService over gRPC: the hot read path (R15, R16)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import grpc
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as pb
from medins.enrollment.v1 import enrollment_check_service_pb2_grpc as pb_grpc

from services.common import person_trail
from services.common.clock import Clock
from services.common.db import Database
from services.common.errors import DomainError, InvalidArgument
from services.common.grpc_errors import clip
from services.common.identity import current_caller
from services.common.logs import current_correlation_id
from services.common.proto_values import date_from_proto, date_to_proto, enum_from_proto, range_to_proto, timestamp
from services.common.resident_id import parse_resident_id
from services.common.validation import element_refusal
from services.enrollment.audit import AuditLog
from services.enrollment.domain.check import MAX_BATCH, CheckAnswer, CheckPurpose, CheckStatus, answer, for_purpose
from services.enrollment.repository import CheckRepository

Context = grpc.aio.ServicerContext[Any, Any]
# A refused target's number is echoed in its result as sent up to the field's length; longer, cut and
# masked (R34).
MAX_ECHO = 32


class EnrollmentCheckServicer(pb_grpc.EnrollmentCheckServiceServicer):
    def __init__(self, db: Database, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._repository: CheckRepository | None = None

    @property
    def _reads(self) -> CheckRepository:
        if self._repository is None:
            self._repository = CheckRepository(self._db.pool)  # raises UNAVAILABLE until connected
        return self._repository

    async def CheckEnrollment(self, request: pb.CheckEnrollmentRequest, context: Context) -> pb.CheckEnrollmentResponse:
        now = self._clock.now()
        purpose = _purpose(request.purpose)
        number, year, day = _target(request.target, now.date(), "target")
        doc = await self._reads.doc(number)
        await self._audit.record(now, *_callers(request.caller_id), purpose.value, [number], current_correlation_id())
        result = _result_proto(for_purpose(answer(number, year, doc, day), purpose))
        return pb.CheckEnrollmentResponse(result=result, as_of_time=timestamp(now))

    async def BatchCheckEnrollments(
        self, request: pb.BatchCheckEnrollmentsRequest, context: Context
    ) -> pb.BatchCheckEnrollmentsResponse:
        now = self._clock.now()
        purpose = _purpose(request.purpose)
        if not request.targets:
            raise InvalidArgument("FIELD_REQUIRED", "targets must not be empty", "查询对象不能为空", field="targets")
        if len(request.targets) > MAX_BATCH:
            raise InvalidArgument(
                "BATCH_TOO_LARGE",
                f"at most {MAX_BATCH} targets per call, got {len(request.targets)}",
                f"每次最多查询{MAX_BATCH}人",
                field="targets",
                metadata={"maximum": MAX_BATCH, "given": len(request.targets)},
            )
        checked: list[tuple[str, int, dt.date | None] | DomainError] = []
        for i, target in enumerate(request.targets):
            # Each target is answered alone (R41): one breaking a field rule gets its error in its place.
            refusal = element_refusal(target, f"targets[{i}].")
            if refusal is not None:
                checked.append(refusal)
                continue
            try:
                checked.append(_target(target, now.date(), f"targets[{i}]"))
            except DomainError as error:
                checked.append(error)
        numbers = sorted({c[0] for c in checked if isinstance(c, tuple)})
        docs = await self._reads.docs(numbers) if numbers else {}
        await self._audit.record(now, *_callers(request.caller_id), purpose.value, numbers, current_correlation_id())
        results = []
        for i, item in enumerate(checked):
            if isinstance(item, DomainError):
                results.append(
                    pb.EnrollmentCheckResult(
                        resident_id_number=_echo(request.targets[i].resident_id_number),
                        error=common_pb2.ItemError(
                            reason=item.reason, field=item.field or "", message=item.message_zh, metadata=item.metadata
                        ),
                    )
                )
            else:
                number, year, day = item
                results.append(_result_proto(for_purpose(answer(number, year, docs.get(number), day), purpose)))
        return pb.BatchCheckEnrollmentsResponse(results=results, as_of_time=timestamp(now))

    async def GetMyEnrollment(self, request: pb.GetMyEnrollmentRequest, context: Context) -> pb.GetMyEnrollmentResponse:
        """参保查询 (R48): the resident's own answer, nothing masked (it is theirs), one ID per call; audited
        as the check is, under the purpose RESIDENT_SELF, and on the person's trail (R35) in the same
        commit, before the answer."""
        now = self._clock.now()
        number = parse_resident_id(request.resident_id_number, today=now.date(), field="resident_id_number").number
        years = _my_years(request.insurance_years, now.date().year)
        doc = await self._reads.doc(number)
        caller, note, correlation_id = (
            str(current_caller()),
            person_trail.claimed_caller(request),
            current_correlation_id(),
        )
        # No request id on a read: the years asked say what was seen, as a certificate's number does.
        trail = person_trail.rows_for([number], caller, "GetMyEnrollment", _years_seen(years), correlation_id, note)
        await self._audit.record(now, caller, note, RESIDENT_SELF, [number], correlation_id, trail=trail)
        results = [
            _result_proto(answer(number, year, doc, now.date() if year == now.date().year else None)) for year in years
        ]
        return pb.GetMyEnrollmentResponse(results=results, as_of_time=timestamp(now))


# The audit's purpose for a resident's look-up of themselves (not a CheckPurpose: no agency asks so).
RESIDENT_SELF = "RESIDENT_SELF"
MAX_MY_YEARS = 10


def _my_years(years: Sequence[int], this_year: int) -> list[int]:
    """The years a resident asks about (default: this one and the next), each once, ascending."""
    chosen = sorted(set(years)) or [this_year, this_year + 1]
    if len(chosen) > MAX_MY_YEARS:
        raise InvalidArgument(
            "TOO_MANY_YEARS",
            f"at most {MAX_MY_YEARS} years per look-up",
            f"每次最多查询{MAX_MY_YEARS}个年度",
            field="insurance_years",
        )
    for year in chosen:
        if not 2000 <= year <= 2100:
            raise InvalidArgument(
                "INVALID_INSURANCE_YEAR",
                f"insurance year {year} must be 2000-2100",
                "参保年度超出范围",
                field="insurance_years",
                metadata={"year": year},
            )
    return chosen


def _years_seen(years: Sequence[int]) -> str:
    """What a resident's look-up showed, as its trail entry says it (e.g. `years=2023,2024`)."""
    return "years=" + ",".join(str(year) for year in years)


def _echo(number: str) -> str:
    return number if len(number) <= MAX_ECHO else clip(number, MAX_ECHO)


def _callers(caller_id: str) -> tuple[str, str]:
    """Who asks, as audited (R35, R41): the authenticated identity, and the caller_id the request gives
    as a note beside it (optional; never in the identity's place)."""
    return str(current_caller()), caller_id.strip()


def _purpose(purpose: int) -> CheckPurpose:
    found = enum_from_proto(CheckPurpose, pb.CheckPurpose, purpose, prefix="CHECK_PURPOSE_", field="purpose")
    assert found is not None
    return found


def _target(target: pb.CheckTarget, today: dt.date, field: str) -> tuple[str, int, dt.date | None]:
    """Whom, which year and which day (R40): the day given, else today for the current year, else the
    first day of a year to come (a payer asking about next year asks "am I covered when it starts?": a
    year paid with a wait is WAITING with its start, not COVERED as a whole), else a past year as a
    whole."""
    resident_id = parse_resident_id(target.resident_id_number, today=today, field=f"{field}.resident_id_number")
    day = date_from_proto(target.on_date, field=f"{field}.on_date") if target.HasField("on_date") else None
    year = target.insurance_year or (day or today).year
    if not 2000 <= year <= 2100:
        raise InvalidArgument(
            "INVALID_INSURANCE_YEAR",
            f"{field}.insurance_year must be 2000-2100",
            "参保年度超出范围",
            field=f"{field}.insurance_year",
        )
    if day is not None and day.year != year:
        raise InvalidArgument(
            "DATE_OUTSIDE_YEAR",
            f"{field}.on_date {day.isoformat()} is not in insurance year {year}",
            f"查询日期{day:%Y年%m月%d日}不在{year}参保年度内",
            field=f"{field}.on_date",
        )
    if day is None and year == today.year:
        day = today
    elif day is None and year > today.year:
        day = dt.date(year, 1, 1)
    return resident_id.number, year, day


# Enum numbers looked up once: this runs for every ID checked.
_STATUS = {s: pb.CheckStatus.Value(f"CHECK_STATUS_{s}") for s in CheckStatus}
_SCHEME = {"": common_pb2.SCHEME_UNSPECIFIED} | {
    name.removeprefix("SCHEME_"): number for name, number in common_pb2.Scheme.items() if number
}
_CATEGORY = {"": common_pb2.CATEGORY_UNSPECIFIED} | {
    name.removeprefix("CATEGORY_"): number for name, number in common_pb2.Category.items() if number
}


_END_REASON = {"": pb.END_REASON_UNSPECIFIED} | {
    name.removeprefix("END_REASON_"): number for name, number in pb.EndReason.items() if number
}


def _result_proto(result: CheckAnswer) -> pb.EnrollmentCheckResult:
    """The answer as built for the caller's purpose (for_purpose has left out what it may not see)."""
    return pb.EnrollmentCheckResult(
        resident_id_number=result.resident_id_number,
        insurance_year=result.insurance_year,
        enrolled=result.enrolled,
        status=_STATUS[result.status],
        region_code=result.region_code,
        region_name=result.region_name,
        scheme=_SCHEME[result.scheme],
        category=_CATEGORY[result.category],
        covered_periods=[range_to_proto(start, end) for start, end in result.covered_periods],
        ended_on=date_to_proto(result.ended_on) if result.ended_on else None,
        end_reason=_END_REASON.get(result.end_reason, pb.END_REASON_UNSPECIFIED),
        on_date=date_to_proto(result.on_date) if result.on_date else None,
        coverage_start=date_to_proto(result.coverage_start) if result.coverage_start else None,
        continuous_years=result.continuous_years,
        serious_illness_cap_fen=result.serious_illness_cap_fen,
    )
