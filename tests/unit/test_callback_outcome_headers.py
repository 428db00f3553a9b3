"""R44, R21b: beside each channel's own answer the callback endpoint says in Medins-* headers what the
one intake decided, and `medins pay` reads them back as NotifyPayment's answer or its refusal."""

from __future__ import annotations

from email.message import Message

import pytest
from medins.collection.v1 import collection_service_pb2 as pb

from ops.cli import callback_post
from ops.cli.errors import CallFailed, CliError
from services.collection.callbacks import answers
from services.collection.domain.intake import Applied, Raced, Refused, Replayed
from services.collection.domain.model import Channel, PaymentOutcome, PaymentResult
from services.common.errors import FailedPrecondition
from services.common.settings import Settings

APPLIED = PaymentResult(PaymentOutcome.APPLIED, "p-1", "o-1", receipt_number="R-1")


def test_an_applied_callback_names_its_payment_and_receipt_and_a_replay_says_so() -> None:
    headers = answers.outcome_headers(Applied(APPLIED))
    assert headers == {
        answers.OUTCOME: "APPLIED",
        answers.PAYMENT_ID: "p-1",
        answers.ORDER_ID: "o-1",
        answers.RECEIPT_NUMBER: "R-1",
    }
    assert answers.outcome_headers(Replayed(APPLIED)) == headers | {answers.REPLAYED: "true"}
    assert answers.outcome_headers(Raced()) == {answers.OUTCOME: "RACED"}


def _message(headers: dict[str, str]) -> Message:
    message = Message()
    for name, value in headers.items():
        message[name] = value
    return message


def test_medins_pay_reads_a_refusal_with_its_kind_reason_and_message(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = FailedPrecondition("AMOUNT_MISMATCH", "notified amount 100 fen differs: 订单", "支付金额与订单金额不一致")
    headers = answers.outcome_headers(Refused(refused))
    assert all(value.isascii() for value in headers.values()), headers
    answered = callback_post.Answered(200, b"success", _message(headers))
    monkeypatch.setattr(callback_post, "_post", lambda *_: answered)
    with pytest.raises(CallFailed) as caught:
        callback_post.deliver("https://127.0.0.1:1", Channel.ALIPAY, {}, b"", Settings())
    refusal = caught.value.refusal
    assert (refusal.code, refusal.reason, refusal.message) == (
        "FAILED_PRECONDITION",
        "AMOUNT_MISMATCH",
        "notified amount 100 fen differs: 订单",
    )


def test_medins_pay_takes_an_answer_only_as_the_channel_would(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = _message(answers.outcome_headers(Applied(APPLIED)))
    monkeypatch.setattr(callback_post, "_post", lambda *_: callback_post.Answered(204, b"", taken))
    response = callback_post.deliver("https://h:1/", Channel.WECHAT, {}, b"", Settings())
    assert response == pb.NotifyPaymentResponse(
        outcome=pb.NOTIFICATION_OUTCOME_APPLIED, payment_id="p-1", order_id="o-1", receipt_number="R-1"
    )
    assert callback_post.path_of(Channel.BANK_COUNTER) == ("/callbacks/unionpay/bank_counter", "unionpay")
    monkeypatch.setattr(callback_post, "_post", lambda *_: callback_post.Answered(200, b"fail", taken))
    with pytest.raises(CliError, match="did not take the callback"):
        callback_post.deliver("https://h:1", Channel.ALIPAY, {}, b"", Settings())
