"""R39: a hospital reports that the fund paid for a person in a benefit year; the person's check document
is rebuilt at once, so the next year's raised cap no longer counts that year as zero-claim."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from services.common.clock import Clock
from services.common.errors import InvalidArgument, required
from services.common.identity import current_caller
from services.common.resident_id import parse_resident_id
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RecordFundUse:
    resident_id_number: str
    insurance_year: int
    settlement_id: str
    fund_paid_fen: int


async def record_fund_use(cmd: RecordFundUse, uow: RegistrationUnitOfWork, clock: Clock) -> tuple[bool, int]:
    """Records the report once per hospital and settlement; answers whether it was new and the cap the
    person's next year now has (0 when that year is not assessed yet)."""
    now = clock.now()
    resident_id = parse_resident_id(cmd.resident_id_number, today=now.date())
    settlement = required(cmd.settlement_id, "settlement_id", "结算单号")
    if cmd.fund_paid_fen <= 0:
        raise InvalidArgument(
            "INVALID_AMOUNT", "fund_paid_fen must be more than 0", "基金支付金额必须大于0", field="fund_paid_fen"
        )
    if not 2000 <= cmd.insurance_year <= now.year:
        raise InvalidArgument(
            "INVALID_INSURANCE_YEAR",
            f"insurance_year must be 2000-{now.year}: the fund cannot have paid in a year to come",
            "参保年度超出范围",
            field="insurance_year",
        )
    await uow.enrollments.lock_persons([resident_id.number], now)
    recorded = await uow.fund_uses.record(
        str(current_caller()), settlement, resident_id.number, cmd.insurance_year, cmd.fund_paid_fen, now
    )
    if recorded:
        await uow.projection.refresh([resident_id.number], now)
    cap = await uow.projection.cap_of(resident_id.number, cmd.insurance_year + 1)
    log.info("fund_use_recorded", resident=resident_id.masked, insurance_year=cmd.insurance_year, new=recorded)
    return recorded, cap
