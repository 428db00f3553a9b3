"""What a simulated channel knows: its trades and refunds, its callback retry schedule and its faults.

Retry schedules, as the channels publish them:
- WeChat Pay (支付通知): 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h, 24 h 4 min in all;
  https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_2_5.shtml (通知频率)
- Alipay (异步通知): 4m, 10m, 10m, 1h, 2h, 6h, 15h, 25 h in all, until it reads "success";
  https://opendocs.alipay.com/open/270/105902 (异步通知说明), https://docs.antom.com/ac/web_cn/async
- UnionPay (后台通知): the gateway retries a back notification not answered 200 a few times at growing
  intervals (the 全渠道 test guide says 1, 2, 4, 8, 16 minutes after the first); the same is used here.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
import secrets
from dataclasses import dataclass, field

MIN = 60
RETRIES = {
    "wechat": (15, 15, 30, 3 * MIN, 10 * MIN, 20 * MIN, 30 * MIN, 30 * MIN, 30 * MIN, 60 * MIN,
               3 * 3600, 3 * 3600, 3 * 3600, 6 * 3600, 6 * 3600),
    "alipay": (4 * MIN, 10 * MIN, 10 * MIN, 3600, 2 * 3600, 6 * 3600, 15 * 3600),
    "unionpay": (MIN, 2 * MIN, 4 * MIN, 8 * MIN, 16 * MIN),
}  # fmt: skip


class Trade(enum.StrEnum):
    NOTPAY = "NOTPAY"
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"
    REFUND = "REFUND"


@dataclass
class SimRefund:
    refund_no: str
    amount_fen: int
    channel_refund_id: str
    status: str  # SUCCESS, PROCESSING, ABNORMAL


@dataclass
class SimTrade:
    order_id: str
    amount_fen: int = 0
    state: Trade = Trade.NOTPAY
    transaction_id: str = ""
    paid_at: dt.datetime | None = None
    refunds: dict[str, SimRefund] = field(default_factory=dict)


@dataclass(frozen=True)
class Faults:
    """Probabilities (0..1) and delays of the callbacks' faults; answers lost to our API calls."""

    drop: float = 0.0  # the callback is never sent, not once
    duplicate: float = 0.0  # each delivery is sent twice
    delay_seconds: float = 0.0  # before the first attempt (channel time, scaled like the schedule)
    reorder: bool = False  # each first attempt starts after a random extra wait of up to 30 s
    lose_answer: float = 0.0  # our callback answer is lost: the channel retries as if we never answered
    lose_api_answer: float = 0.0  # an API call is done but its answer is lost (the client times out)
    hold: bool = False  # callbacks wait until release_held() (a delay as long as a test wants)


class PayRefused(Exception):
    """The payer cannot pay this order (closed at the channel)."""


class Ledger:
    def __init__(self, seed: int | None = None) -> None:
        self.trades: dict[str, SimTrade] = {}
        self.refuse_refunds: set[str] = set()  # order ids whose refunds the channel refuses
        self.random = random.Random(seed)

    def pay(self, order_id: str, amount_fen: int, now: dt.datetime, transaction_id: str = "") -> SimTrade:
        trade = self.trades.setdefault(order_id, SimTrade(order_id))
        if trade.state is Trade.CLOSED:
            raise PayRefused(f"order {order_id} is closed")
        if trade.state is Trade.NOTPAY:
            trade.amount_fen, trade.state, trade.paid_at = amount_fen, Trade.SUCCESS, now
            trade.transaction_id = transaction_id or f"42{now:%Y%m%d}{secrets.randbelow(10**18):018d}"
        return trade

    def close(self, order_id: str) -> SimTrade:
        """Closes an unpaid order (an order we never opened here is closed all the same, as one opened
        at creation would be); a paid one stays paid."""
        trade = self.trades.setdefault(order_id, SimTrade(order_id))
        if trade.state is Trade.NOTPAY:
            trade.state = Trade.CLOSED
        return trade

    def refund(self, order_id: str, refund_no: str, amount_fen: int) -> SimRefund | str:
        """The refund (the same refund number again: the same refund), or why it is refused."""
        trade = self.trades.get(order_id)
        if trade is None or trade.state not in (Trade.SUCCESS, Trade.REFUND):
            return "TRADE_NOT_PAID"
        if refund_no in trade.refunds:
            return trade.refunds[refund_no]
        if order_id in self.refuse_refunds:
            return "NOT_ENOUGH"
        if amount_fen + sum(r.amount_fen for r in trade.refunds.values()) > trade.amount_fen:
            return "REFUND_AMOUNT_EXCEEDED"
        refund = SimRefund(refund_no, amount_fen, f"50{secrets.randbelow(10**20):020d}", "SUCCESS")
        trade.refunds[refund_no] = refund
        trade.state = Trade.REFUND
        return refund

    def find_refund(self, refund_no: str) -> tuple[SimTrade, SimRefund] | None:
        for trade in self.trades.values():
            if refund_no in trade.refunds:
                return trade, trade.refunds[refund_no]
        return None

    def chance(self, probability: float) -> bool:
        return probability > 0 and self.random.random() < probability
