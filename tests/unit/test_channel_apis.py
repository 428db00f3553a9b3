"""Our clients of the channels' order query, close and refund APIs against the simulators (R43, R23):
requests signed with our merchant key, answers verified with the channel's key, each channel's states
read as its documents say."""

from __future__ import annotations

import pytest

from ops.channel_sim.ledger import Faults, PayRefused, Trade
from services.collection.channels.keys import ChannelKeys, KeyStore
from services.collection.domain.model import Channel
from services.collection.gateways.channel_apis.merchant_keys import WechatMerchant
from services.collection.gateways.channel_apis.ports import (
    ChannelApiError,
    RefundRequest,
    RefundState,
    TradeState,
)
from services.collection.gateways.channel_apis.wechat import WechatPayApi
from services.common.clock import FixedClock, SystemClock
from services.common.money import Fen
from tests.channel_api_fixtures import MERCHANT_SERIAL, wired
from tests.unit.channel_fixtures import MCHID, NOW, rsa, wechat_keys

CHANNEL = {"wechat": Channel.WECHAT, "alipay": Channel.ALIPAY, "unionpay": Channel.BANK_APP}
ORDER = "0a6d3f0e-3c2b-4b8e-9f0a-2d7c1e5b9a11"


def clock_for(family: str) -> FixedClock | SystemClock:
    # the UnionPay certificates are made valid from now on; the others sign with the test's fixed time
    return SystemClock() if family == "unionpay" else FixedClock(NOW)


def refund_of(
    transaction_id: str, amount: int = 38000, refund_id: str = "b1c2d3e4-0000-4000-8000-000000000001"
) -> RefundRequest:
    return RefundRequest(refund_id, ORDER, transaction_id, Fen(amount), Fen(38000), "double payment")


@pytest.mark.parametrize("family", ["wechat", "alipay", "unionpay"])
async def test_an_order_paid_at_the_channel_is_reported_paid_with_its_payment(family: str) -> None:
    clock = clock_for(family)
    async with wired(family, clock) as w:
        channel = CHANNEL[family]
        assert (await w.api.query_order(channel, ORDER, clock.now())).state is TradeState.NOT_FOUND
        trade = await w.server.pay(ORDER, 38000)
        answer = await w.api.query_order(channel, ORDER, clock.now())
    assert answer.state is TradeState.PAID and answer.payment is not None
    assert (answer.payment.order_id, answer.payment.amount_fen) == (ORDER, 38000)
    assert answer.payment.transaction_id == trade.transaction_id
    assert answer.payment.channel is channel


@pytest.mark.parametrize("family", ["wechat", "alipay"])
async def test_a_closed_order_cannot_be_paid_and_a_paid_one_is_not_closed(family: str) -> None:
    clock = FixedClock(NOW)
    async with wired(family, clock) as w:
        channel = CHANNEL[family]
        assert (await w.api.close_order(channel, ORDER, NOW)).state is TradeState.CLOSED
        with pytest.raises(PayRefused):
            await w.server.pay(ORDER, 38000)
        other = ORDER.replace("0a6d", "0b6d")
        await w.server.pay(other, 38000)
        answer = await w.api.close_order(channel, other, NOW)
    assert answer.state is TradeState.PAID and answer.payment is not None  # already paid: apply, not refund


@pytest.mark.parametrize("family", ["wechat", "alipay", "unionpay"])
async def test_a_refund_goes_through_the_channel_once_and_a_refused_one_says_why(family: str) -> None:
    clock = clock_for(family)
    async with wired(family, clock) as w:
        channel = CHANNEL[family]
        trade = await w.server.pay(ORDER, 38000)
        first = await w.api.refund(channel, refund_of(trade.transaction_id))
        again = await w.api.refund(channel, refund_of(trade.transaction_id))
        settled = await w.api.query_refund(channel, refund_of(trade.transaction_id))
        w.server.ledger.refuse_refunds.add(ORDER)
        refused = await w.api.refund(
            channel, refund_of(trade.transaction_id, 100, "b1c2d3e4-0000-4000-8000-000000000002")
        )
    assert first.state in (RefundState.SUCCEEDED, RefundState.PROCESSING)
    assert settled.state is RefundState.SUCCEEDED
    assert len(w.server.ledger.trades[ORDER].refunds) == 1, again
    assert w.server.ledger.trades[ORDER].state is Trade.REFUND
    assert refused.state is RefundState.REFUSED and refused.detail


@pytest.mark.parametrize("family", ["wechat", "alipay"])
async def test_a_request_signed_with_another_key_is_refused_by_the_channel(family: str) -> None:
    clock = FixedClock(NOW)
    async with wired(family, clock, merchant_key="not-the-merchant") as w:
        with pytest.raises(ChannelApiError):
            await w.api.query_order(CHANNEL[family], ORDER, NOW)


async def test_an_answer_lost_on_the_way_is_no_answer_not_a_decision() -> None:
    clock = FixedClock(NOW)
    async with wired("wechat", clock, faults=Faults(lose_api_answer=1.0), timeout_seconds=1.0) as w:
        await w.server.pay(ORDER, 38000)
        with pytest.raises(ChannelApiError):
            await w.api.query_order(Channel.WECHAT, ORDER, NOW)


async def test_an_answer_not_signed_by_a_live_platform_key_is_not_believed() -> None:
    clock = FixedClock(NOW)
    async with wired("wechat", clock) as w:
        await w.server.pay(ORDER, 38000)
        keys = KeyStore(lambda: ChannelKeys(wechat=wechat_keys(("0THER5ERIAL", "platform-2"))))
        merchant = WechatMerchant(MCHID, MERCHANT_SERIAL, rsa("merchant"))
        stranger = WechatPayApi(w.server.url, merchant, keys, clock, w.transport)
        with pytest.raises(ChannelApiError):
            await stranger.query_order(Channel.WECHAT, ORDER, NOW)
