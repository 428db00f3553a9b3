"""Refund results read from the channels (R23, issue 21 item 5): a submitted refund's result by the
channel's refund query, for channels whose result callback we do not take (or that never came)."""

from __future__ import annotations

from typing import Protocol

import structlog

from services.collection.domain.model import Channel, Refund, RefundStatus
from services.collection.domain.refunds import after_failure
from services.collection.gateways.channel_apis.ports import ChannelApiError, RefundAnswer, RefundState
from services.collection.handlers.refunds import finish_refund, load_refund
from services.collection.ports import UowFactory
from services.common.clock import Clock

log = structlog.get_logger(__name__)


class RefundResults(Protocol):
    async def result(self, refund: Refund) -> RefundAnswer:
        """The channel's word on a submitted refund (its refund query)."""
        ...

    def serves(self, channel: Channel) -> bool: ...


# Refunds an operator must look at (`medins refunds list --stuck`): the channel said no or could not be
# reached (FAILED, retried on a back-off), or every attempt failed (MANUAL_HANDLING).
STUCK = (RefundStatus.MANUAL_HANDLING, RefundStatus.FAILED)


async def settle_submitted_refunds(
    uow_factory: UowFactory, clock: Clock, batch_size: int, results: RefundResults
) -> int:
    """Asks the channel about submitted refunds (its refund query stands in for a result callback that
    never came) and records what it says as NotifyRefundResult would: succeeded, or refused (retried,
    then by hand). The channel is asked with no transaction open; the refund is re-read and locked
    before its result is written, so a result that came meanwhile is kept."""
    async with uow_factory() as uow:
        submitted = await uow.refunds.list_refunds(RefundStatus.SUBMITTED, None, batch_size)
    settled = 0
    for refund in submitted:
        if not results.serves(refund.channel):
            continue
        try:
            answer = await results.result(refund)
        except (ChannelApiError, LookupError) as error:
            log.warning("refund_result_unanswered", refund_id=refund.refund_id, error=str(error))
            continue
        if answer.state is RefundState.PROCESSING:
            continue
        now = clock.now()
        async with uow_factory() as uow:
            current = await load_refund(uow, refund.refund_id, for_update=True)
            if current.status is not RefundStatus.SUBMITTED:
                continue
            if answer.state is RefundState.SUCCEEDED:
                await finish_refund(
                    uow, current, now, channel_refund_id=answer.channel_refund_id or current.channel_refund_id
                )
            else:
                status, retry_at = after_failure(current.attempts, now)
                await uow.refunds.set_state(
                    current.refund_id, status, now, next_attempt_at=retry_at, failure_reason=answer.detail or "refused"
                )
                log.warning("refund_refused_by_channel", refund_id=current.refund_id, status=status, why=answer.detail)
            await uow.commit()
        settled += 1
    return settled
