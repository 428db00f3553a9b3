"""No payment lost with its notification (R43): the payment query worker's step.

For each order a channel may have taken money for without telling us (domain/payment_queries.py says
which), each channel is asked with no transaction open (query, or close once the order has expired), and
then, in one transaction: a PAID answer is taken in by payment_intake.settle_payment, the same decision
and write as a notification's (R21-R23: once per channel transaction, a late payment for still-unpaid
items accepted, a double one refunded), the answer recorded with its source and outcome
(channel_order_answers), and the order's standing at that channel noted. A channel that does not answer
is asked again later; a crash between the call and the write just asks again (the channel's answer is
the same, and the intake's transaction uniqueness keeps it to one effect)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from services.collection import payment_intake
from services.collection.domain import payment_queries as rules
from services.collection.domain.model import Channel
from services.collection.domain.payment_queries import Candidate, Source
from services.collection.gateways.channel_apis.ports import ChannelApi, ChannelApiError, TradeAnswer, TradeState
from services.collection.payment_query_repository import PaymentQueryRepository
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.errors import DomainError

log = structlog.get_logger(__name__)

UowFactory = Callable[[], CollectionUnitOfWork]
RACED = payment_intake.payment_race().reason


@dataclass(frozen=True)
class QueryConfig:
    near: dt.timedelta = rules.DEFAULT_NEAR
    lookback: dt.timedelta = rules.DEFAULT_LOOKBACK
    skew: dt.timedelta = dt.timedelta(seconds=5)


@dataclass
class Tally:
    asked: int = 0
    applied: int = 0
    refunds: int = 0
    closed: int = 0
    unanswered: int = 0


async def query_due_orders(
    uow_factory: UowFactory, clock: Clock, apis: Sequence[ChannelApi], config: QueryConfig, batch_size: int
) -> Tally:
    """One pass: every due order asked at every channel it is due at."""
    routes = [(channel, api) for api in apis for channel in sorted(api.channels)]
    tally = Tally()
    now = clock.now()
    async with uow_factory() as uow:
        repo = PaymentQueryRepository(uow.conn)
        due = await repo.candidates(rules.window(now, config.near, config.lookback), [c for c, _ in routes], batch_size)
    for candidate in due:
        async with uow_factory() as uow:
            checks = await PaymentQueryRepository(uow.conn).checks(candidate.order_id)
        for channel, api in routes:
            check = checks.get(channel)
            if check is not None and (check.settled or check.next_ask_at > now):
                continue
            await _ask(uow_factory, clock, api, channel, candidate, config, tally, check.asks if check else 0)
    if due:
        log.info("payment_query_pass", orders=len(due), **tally.__dict__)
    return tally


async def _ask(
    uow_factory: UowFactory,
    clock: Clock,
    api: ChannelApi,
    channel: Channel,
    candidate: Candidate,
    config: QueryConfig,
    tally: Tally,
    asks: int,
) -> None:
    source = rules.source_for(candidate, clock.now())
    tally.asked += 1
    try:
        if source is Source.CLOSE:
            answer = await api.close_order(channel, candidate.order_id, candidate.created_at)
        else:
            answer = await api.query_order(channel, candidate.order_id, candidate.created_at)
    except ChannelApiError as error:
        tally.unanswered += 1
        log.warning("payment_query_unanswered", order_id=candidate.order_id, channel=channel, error=str(error))
        async with uow_factory() as uow:
            now = clock.now()
            await PaymentQueryRepository(uow.conn).note_check(
                candidate.order_id, channel, rules.next_ask(asks, now, candidate.expires_at, config.near), False, now
            )
            await uow.commit()
        return
    await _record(uow_factory, clock, channel, candidate, source, answer, config, tally, asks)


async def _record(
    uow_factory: UowFactory,
    clock: Clock,
    channel: Channel,
    candidate: Candidate,
    source: Source,
    answer: TradeAnswer,
    config: QueryConfig,
    tally: Tally,
    asks: int,
) -> None:
    """The channel's answer about one order, and what follows from it, in one transaction: a payment
    taken in as a notification would be (R43), a closed order noted; when to ask next."""
    now = clock.now()
    try:
        async with uow_factory() as uow:
            repo = PaymentQueryRepository(uow.conn)
            settled = source is Source.CLOSE and answer.state in (TradeState.CLOSED, TradeState.NOT_FOUND)
            if answer.state is TradeState.PAID and answer.payment is not None:
                settled = await _settle(uow, repo, clock, channel, candidate, source, answer, config, tally)
            else:
                await repo.record_answer(candidate.order_id, channel, source, answer, now)
                tally.closed += settled
            await repo.note_check(
                candidate.order_id, channel, rules.next_ask(asks, now, candidate.expires_at, config.near), settled, now
            )
            await uow.commit()
    except DomainError as refusal:  # raced (see _settle): rolled back, the order is asked again
        log.info("payment_query_raced", order_id=candidate.order_id, channel=channel, reason=refusal.reason)


async def _settle(
    uow: CollectionUnitOfWork,
    repo: PaymentQueryRepository,
    clock: Clock,
    channel: Channel,
    candidate: Candidate,
    source: Source,
    answer: TradeAnswer,
    config: QueryConfig,
    tally: Tally,
) -> bool:
    """The reported payment taken in exactly as a notification would be; True once it is decided."""
    assert answer.payment is not None
    now = clock.now()
    try:
        result = await payment_intake.settle_payment(uow, answer.payment, clock, config.skew)
    except DomainError as refusal:
        if refusal.reason == RACED:
            raise  # a concurrent notification of the same transaction: nothing kept, asked again
        # Refused as a notification would be (an amount that is not the order's: R22, kept for
        # reconciliation). A payment time ahead of our clock is asked about again; the rest is decided.
        await repo.record_answer(
            candidate.order_id, channel, source, answer, now, outcome=refusal.reason, detail=str(refusal)
        )
        log.warning("payment_query_refused", order_id=candidate.order_id, channel=channel, reason=refusal.reason)
        return refusal.reason != "PAYMENT_TIME_IN_FUTURE"
    await repo.record_answer(
        candidate.order_id, channel, source, answer, now, outcome=result.outcome.value, payment_id=result.payment_id
    )
    tally.applied += result.refund_id is None
    tally.refunds += result.refund_id is not None
    log.info(
        "payment_query_settled",
        order_id=candidate.order_id,
        channel=channel,
        source=source,
        outcome=result.outcome,
        payment_id=result.payment_id,
    )
    return True
