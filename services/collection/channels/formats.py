"""Notification shapes of the channels, parsed exactly: amounts to integer fen (never through a float),
times to CST instants. Anything unexpected is refused as MALFORMED_NOTIFICATION, naming what."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from services.collection.domain.model import Channel
from services.collection.domain.payments import ChannelPayment, check_positive_amount
from services.common.clock import CST
from services.common.errors import InvalidArgument
from services.common.money import fen_from_yuan_text
from services.common.text_rules import DOCUMENT_NUMBER, ID, TEXT, text_problem

Parser = Callable[[Channel, bytes], ChannelPayment]
_DIGITS = re.compile(r"[0-9]{1,15}")
# Bounds checked before anything is parsed or computed (R34): a channel's notification is small and flat.
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_JSON_DEPTH = 8
MAX_INTEGER_DIGITS = 18
MAX_VALUE_CHARS = 64
# A reported payment time outside these years is not a time a payment of ours can have.
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100


def malformed(why: str) -> InvalidArgument:
    return InvalidArgument(
        "MALFORMED_NOTIFICATION",
        f"payment notification is malformed: {why}",
        f"缴费通知格式错误:{why}",
        field="payload",
        metadata={"why": why},
    )


def _json(payload: bytes) -> Mapping[str, Any]:
    _check_depth(payload)
    try:
        document = json.loads(
            payload.decode("utf-8"), parse_float=_no_float, parse_int=_bounded_int, parse_constant=_no_constant
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise malformed(
            f"not JSON ({type(exc).__name__} at byte {getattr(exc, 'pos', getattr(exc, 'start', 0))})"
        ) from None
    if not isinstance(document, dict):
        raise malformed("not a JSON object")
    return document


def _check_depth(payload: bytes) -> None:
    """Refuses JSON nested deeper than MAX_JSON_DEPTH before a parser recurses into it."""
    depth = 0
    in_string = escaped = False
    for byte in payload:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise malformed(f"nested deeper than {MAX_JSON_DEPTH} levels")
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1


def _no_float(text: str) -> Any:
    raise malformed(f"number {text[:20]} is not an integer number of fen")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise malformed(f"a number has more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _no_constant(text: str) -> Any:
    raise malformed(f"{text} is not a number")


def _text(document: Mapping[str, Any], key: str, chars: int = TEXT) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value.strip():
        raise malformed(f"{key} is missing")
    problem = text_problem(value.strip(), chars, MAX_VALUE_CHARS)
    if problem is not None:
        raise malformed(f"{key} {problem.description}")
    return value.strip()


def _integer(document: Mapping[str, Any], key: str) -> int:
    value = document.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise malformed(f"{key} must be an integer number of fen")
    return value


def _aware(text: str, key: str) -> dt.datetime:
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        raise malformed(f"{key} {text!r} is not an ISO 8601 time") from None
    if instant.tzinfo is None:
        raise malformed(f"{key} {text!r} has no UTC offset")
    _check_year(instant, key)
    return instant.astimezone(CST)


def _check_year(instant: dt.datetime, key: str) -> None:
    if not EARLIEST_YEAR <= instant.year <= LATEST_YEAR:
        raise malformed(f"{key} is not between {EARLIEST_YEAR} and {LATEST_YEAR}")


def _cst(text: str, layout: str, key: str) -> dt.datetime:
    try:
        instant = dt.datetime.strptime(text, layout).replace(tzinfo=CST)
    except ValueError:
        raise malformed(f"{key} {text!r} is not {layout}") from None
    _check_year(instant, key)
    return instant


def wechat(channel: Channel, payload: bytes) -> ChannelPayment:
    """WeChat Pay v3 (decrypted resource): amount.total in integer fen, success_time RFC 3339."""
    document = _json(payload)
    if document.get("trade_state") != "SUCCESS":
        raise malformed(f"trade_state is {document.get('trade_state')!r}, not SUCCESS")
    amount = document.get("amount")
    if not isinstance(amount, dict):
        raise malformed("amount is missing")
    if amount.get("currency", "CNY") != "CNY":
        raise malformed(f"currency {amount.get('currency')!r} is not CNY")
    return ChannelPayment(
        channel=channel,
        transaction_id=_text(document, "transaction_id", ID),
        order_id=_text(document, "out_trade_no", ID),
        amount_fen=check_positive_amount(_integer(amount, "total")),
        paid_at=_aware(_text(document, "success_time"), "success_time"),
        payload_sha256=b"",
    )


def form_fields(payload: bytes) -> dict[str, str]:
    """A form-encoded body (application/x-www-form-urlencoded, UTF-8) as its decoded fields; a field
    given twice is refused (which of the two would a signature cover?)."""
    try:
        pairs = parse_qsl(payload.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise malformed(f"not form-encoded ({type(exc).__name__})") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise malformed("a field is given twice")
    return fields


# The readers the channel verifiers (wechat_pay_v3, alipay, unionpay, own_format) share with the parsers.
json_object = _json
text_field = _text
cst_time = _cst


def alipay(channel: Channel, payload: bytes) -> ChannelPayment:
    """Alipay asynchronous notification (form-encoded): total_amount in yuan ("380.00"), gmt_payment CST."""
    fields = form_fields(payload)
    if fields.get("trade_status") not in ("TRADE_SUCCESS", "TRADE_FINISHED"):
        raise malformed(f"trade_status is {fields.get('trade_status')!r}, not TRADE_SUCCESS")
    try:
        amount = fen_from_yuan_text(_text(fields, "total_amount"))
    except ValueError:
        raise malformed(f"total_amount {fields.get('total_amount')!r} is not yuan with at most two decimals") from None
    return ChannelPayment(
        channel=channel,
        transaction_id=_text(fields, "trade_no", ID),
        order_id=_text(fields, "out_trade_no", ID),
        amount_fen=check_positive_amount(amount),
        paid_at=_cst(_text(fields, "gmt_payment"), "%Y-%m-%d %H:%M:%S", "gmt_payment"),
        payload_sha256=b"",
    )


def unionpay(channel: Channel, payload: bytes) -> ChannelPayment:
    """Banks, ATMs, POS 代征 terminals, social-security cards and agreement deductions report through the
    UnionPay-style gateway's back notification (form-encoded, unionpay.py verifies it): txnAmt in fen as
    a digit string, txnTime yyyyMMddHHmmss in CST."""
    document = form_fields(payload)
    if document.get("respCode") != "00":
        raise malformed(f"respCode is {document.get('respCode')!r}, not 00 (success)")
    amount = _text(document, "txnAmt")
    if not _DIGITS.fullmatch(amount):
        raise malformed(f"txnAmt {amount!r} is not a number of fen")
    return ChannelPayment(
        channel=channel,
        transaction_id=_text(document, "queryId", ID),
        order_id=_text(document, "orderId", ID),
        amount_fen=check_positive_amount(int(amount)),
        paid_at=_cst(_text(document, "txnTime"), "%Y%m%d%H%M%S", "txnTime"),
        payload_sha256=b"",
    )


def native(channel: Channel, payload: bytes) -> ChannelPayment:
    """Our own shape, used by the e-tax bureau and the family mutual-aid account: amount_fen, paid_at ISO."""
    document = _json(payload)
    holder = None
    if channel is Channel.FAMILY_MUTUAL_AID:
        holder = _text(document, "holder_id_number", DOCUMENT_NUMBER)
    return ChannelPayment(
        channel=channel,
        transaction_id=_text(document, "transaction_id", ID),
        order_id=_text(document, "order_id", ID),
        amount_fen=check_positive_amount(_integer(document, "amount_fen")),
        paid_at=_aware(_text(document, "paid_at"), "paid_at"),
        payload_sha256=b"",
        family_holder_id_number=holder,
    )


PARSERS: dict[Channel, Parser] = {
    Channel.WECHAT: wechat,
    Channel.ALIPAY: alipay,
    Channel.BANK_APP: unionpay,
    Channel.BANK_COUNTER: unionpay,
    Channel.ATM: unionpay,
    Channel.POS: unionpay,
    Channel.SOCIAL_SECURITY_CARD: unionpay,
    Channel.AGREEMENT_DEDUCTION: unionpay,
    Channel.E_TAX: native,
    Channel.FAMILY_MUTUAL_AID: native,
}


def parse(channel: Channel, payload: bytes) -> ChannelPayment:
    """The normalised payment of a notification, with the hash of exactly what the channel sent."""
    parser = PARSERS.get(channel)
    if parser is None:
        raise InvalidArgument(
            "CHANNEL_NOT_NOTIFIABLE",
            f"{channel} does not send payment notifications",
            "该渠道不发送缴费通知",
            field="channel",
        )
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise malformed(f"larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        payment = parser(channel, payload)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # Defence in depth: the parsers refuse what they know; nothing a channel sends may crash intake.
        raise malformed(f"cannot be read ({type(exc).__name__})") from None
    return replace(payment, payload_sha256=hashlib.sha256(payload).digest())
