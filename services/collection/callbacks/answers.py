"""How each channel expects its callback answered (R44), and which outcomes it should send again.

- WeChat Pay API v3 (支付通知, https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_2_5.shtml): HTTP
  200 or 204 without a body when received; otherwise a 4XX/5XX with {"code": "FAIL", "message": ...},
  and WeChat Pay retries (15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h: 24 h 4 min in all).
- Alipay (异步通知, https://opendocs.alipay.com/open/270/105902): the body `success` (7 characters, no
  quotes or line end); anything else and Alipay retries for 25 h (4m/10m/10m/1h/2h/6h/15h).
- UnionPay 全渠道 back notification (https://open.unionpay.com/tjweb/api/dictionary?apiSvcId=448): HTTP 200
  when received; any other status and the gateway sends again (at 1, 2, 4, 5 minutes... after).
- Our own format (e-tax, family account): 200 with {"code": "SUCCESS"}, else 4XX/5XX as WeChat's.

What is sent again: a callback we could not believe (its signature, time, nonce, merchant; a key may
be rotated in meanwhile), that we could not read, whose payment time is ahead of our clock, or that
raced a copy of itself. A believed callback whose payment we decided (applied, replayed, refunded, or
refused for good and recorded: another amount, an unknown order, a conflicting transaction) is
acknowledged: sending it again would change nothing, and its record is there for reconciliation (R22).

Beside the channel's answer, headers of ours say what the intake decided (`outcome_headers`): a channel
ignores headers it does not know; `medins pay` (ops/cli/pay.py) reads them to say why a callback was
refused, as NotifyPayment's status would (R21b: the same decision, recorded the same way).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from services.collection.domain.intake import Applied, IntakeOutcome, Raced, RefundRaised, Refused, Replayed
from services.common.errors import ErrorKind

# What the intake decided, in headers beside the channel's own answer.
OUTCOME = "Medins-Outcome"  # APPLIED, REFUND_RAISED, REFUSED or RACED (a replay: the first outcome)
REPLAYED = "Medins-Replayed"  # "true" when answered from an earlier notification
PAYMENT_ID, ORDER_ID = "Medins-Payment-Id", "Medins-Order-Id"
RECEIPT_NUMBER, REFUND_ID = "Medins-Receipt-Number", "Medins-Refund-Id"
REFUSAL = "Medins-Refusal"  # "<error kind> <reason>", e.g. FAILED_PRECONDITION AMOUNT_MISMATCH
REFUSAL_MESSAGE = "Medins-Refusal-Message"  # the refusal's message, percent-encoded (UTF-8)

# Refusals a resend could turn out otherwise (a key rotation, a clock): the channel is asked to retry.
RETRIED_REASONS = frozenset({"PAYMENT_TIME_IN_FUTURE", "TRANSIENT_CONFLICT"})
RETRIED_KINDS = frozenset({ErrorKind.UNAUTHENTICATED, ErrorKind.INVALID_ARGUMENT, ErrorKind.UNAVAILABLE})


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"


def outcome_headers(outcome: IntakeOutcome) -> dict[str, str]:
    """The intake's decision as headers (see the module's docstring)."""
    match outcome:
        case Applied(result=result) | RefundRaised(result=result) | Replayed(result=result):
            headers = {OUTCOME: result.outcome.value, PAYMENT_ID: result.payment_id, ORDER_ID: result.order_id}
            headers |= {RECEIPT_NUMBER: result.receipt_number} if result.receipt_number else {}
            headers |= {REFUND_ID: result.refund_id} if result.refund_id else {}
            return headers | ({REPLAYED: "true"} if isinstance(outcome, Replayed) else {})
        case Refused(error=error):
            return {
                OUTCOME: "REFUSED",
                REFUSAL: f"{error.kind.value} {error.reason}",
                REFUSAL_MESSAGE: quote(error.message, safe=" ,.:;()[]'/-_"),
            }
        case Raced():
            return {OUTCOME: "RACED"}


def accepted(outcome: IntakeOutcome) -> tuple[bool, int, str]:
    """Whether the channel should consider the callback delivered; if not, the HTTP status and why."""
    if isinstance(outcome, Raced):
        return False, 503, "a concurrent copy of this notification got in the way"
    if isinstance(outcome, Refused):
        error = outcome.error
        if error.kind in RETRIED_KINDS or error.reason in RETRIED_REASONS:
            status = {ErrorKind.UNAUTHENTICATED: 401, ErrorKind.INVALID_ARGUMENT: 400}.get(error.kind, 503)
            return False, status, error.reason
    return True, 200, ""


def wechat(delivered: bool, status: int, why: str) -> Answer:
    if delivered:
        return Answer(204, b"")
    return Answer(status, json.dumps({"code": "FAIL", "message": why}).encode())


def alipay(delivered: bool, status: int, why: str) -> Answer:
    del status, why
    return Answer(200, b"success" if delivered else b"fail", "text/plain")


def unionpay(delivered: bool, status: int, why: str) -> Answer:
    del why
    return Answer(200, b"ok", "text/plain") if delivered else Answer(status, b"fail", "text/plain")


def own(delivered: bool, status: int, why: str) -> Answer:
    if delivered:
        return Answer(200, b'{"code":"SUCCESS"}')
    return Answer(status, json.dumps({"code": "FAIL", "message": why}).encode())


def failure(family: str, status: int, why: str) -> Answer:
    """The answer to a callback that never reached the intake (not allowed, an error of ours)."""
    return ANSWERS[family](False, status, why)


ANSWERS = {"wechat": wechat, "alipay": alipay, "unionpay": unionpay, "own": own}
