"""Entrusted deduction agreements (个人委托扣款协议, R27): who may sign, with which card, and the
verification code that activates them.

Lifecycle: PENDING_VERIFICATION --code--> ACTIVE --failed runs--> SUSPENDED; any live state --> REVOKED;
PENDING_VERIFICATION --5 wrong codes--> LOCKED."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
from dataclasses import dataclass

from services.common.errors import FailedPrecondition, InvalidArgument, NotFound

CODE_TTL = dt.timedelta(minutes=5)
MAX_WRONG_CODES = 5
CODE_LENGTH = 6

_CARD = re.compile(r"[0-9]{12,19}")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


class AgreementStatus(enum.StrEnum):
    PENDING_VERIFICATION = "PENDING_VERIFICATION"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    LOCKED = "LOCKED"
    REVOKED = "REVOKED"


class Relationship(enum.StrEnum):
    """The card holder to the insured person: the person, or a relative who consents (R27)."""

    SELF = "SELF"
    PARENT = "PARENT"
    SPOUSE = "SPOUSE"
    CHILD = "CHILD"
    OTHER_RELATIVE = "OTHER_RELATIVE"


class IdType(enum.StrEnum):
    RESIDENT_ID_CARD = "RESIDENT_ID_CARD"


@dataclass(frozen=True)
class Agreement:
    agreement_id: str
    payer_id_number: str
    insured_id_type: IdType
    insured_id_number: str
    insured_name: str
    bank_name: str
    card_last_four: str
    card_holder_name: str
    card_phone: str
    relationship: Relationship
    status: AgreementStatus
    code_expires_at: dt.datetime
    wrong_code_attempts: int
    failed_deduction_runs: int
    created_at: dt.datetime
    activated_at: dt.datetime | None = None


@dataclass(frozen=True)
class EncryptedCard:
    """A card number as stored: the ciphertext and the id of the key that made it."""

    key_id: str
    ciphertext: bytes
    last_four: str


@dataclass(frozen=True)
class StoredCard:
    """An agreement's card as read back for a deduction or a key rotation."""

    agreement_id: str
    key_id: str
    ciphertext: bytes


MAX_TEXT_LENGTH = 64


def checked_text(value: str, field: str, label_zh: str) -> str:
    """A required name-like field: 1-64 printable characters (no control or NUL characters)."""
    text = value.strip()
    if not text:
        raise InvalidArgument("FIELD_REQUIRED", f"{field} is required", f"{label_zh}不能为空", field=field)
    if len(text) > MAX_TEXT_LENGTH or not text.isprintable():
        raise InvalidArgument(
            "INVALID_TEXT",
            f"{field} must be at most {MAX_TEXT_LENGTH} printable characters",
            f"{label_zh}应为不超过{MAX_TEXT_LENGTH}个可打印字符",
            field=field,
        )
    return text


def checked_card_number(value: str) -> str:
    """12-19 digits (spaces allowed between groups). The error never repeats the number."""
    digits = value.replace(" ", "")
    if not _CARD.fullmatch(digits):
        raise InvalidArgument(
            "INVALID_CARD_NUMBER",
            "card_number must be 12-19 digits",
            "银行卡号应为12至19位数字",
            field="card_number",
        )
    return digits


def checked_mobile(value: str) -> str:
    phone = value.strip()
    if not _MOBILE.fullmatch(phone):
        raise InvalidArgument(
            "INVALID_PHONE",
            "card_phone must be an 11-digit mainland mobile number",
            "银行预留手机号应为11位手机号码",
            field="card_phone",
        )
    return phone


def mask_phone(phone: str) -> str:
    """138****8000: enough for the person to recognise, not enough to call."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


def check_signable(relationship: Relationship, holder_name: str, insured_name: str, consent_given: bool) -> None:
    """The card is the person's own (holder named as the person) or a relative's with their consent."""
    if not consent_given:
        raise InvalidArgument(
            "CONSENT_REQUIRED",
            "the card holder's consent to deductions (扣费授权) is required",
            "须经持卡人同意授权扣款",
            field="consent_given",
        )
    if relationship is Relationship.SELF and holder_name != insured_name:
        raise InvalidArgument(
            "CARD_HOLDER_NOT_INSURED",
            "a card of the insured person must be held in the insured person's name",
            "本人银行卡的持卡人姓名须与参保人一致",
            field="card_holder_name",
        )


def code_digest(agreement_id: str, code: str) -> bytes:
    """Only a digest of the code is stored, salted with the agreement so equal codes differ."""
    return hashlib.sha256(f"{agreement_id}:{code}".encode()).digest()


def code_from_number(number: int) -> str:
    """A 6-digit code from a random number below 10**6."""
    return f"{number % 10**CODE_LENGTH:0{CODE_LENGTH}d}"


class Verdict(enum.Enum):
    CONFIRMED = "CONFIRMED"
    WRONG = "WRONG"


def judge_code(agreement: Agreement, stored_digest: bytes, given_code: str, now: dt.datetime) -> Verdict:
    """Refuses a confirmation that cannot succeed; says whether the code is right otherwise.

    A wrong code counts toward the lock whatever it looks like; an expired code counts nothing."""
    if agreement.status is AgreementStatus.LOCKED:
        raise agreement_locked(agreement.agreement_id)
    if agreement.status is not AgreementStatus.PENDING_VERIFICATION:
        raise FailedPrecondition(
            "AGREEMENT_NOT_PENDING",
            f"agreement {agreement.agreement_id} is {agreement.status}, not waiting for a code",
            "该协议不在待验证状态",
            metadata={"agreement_id": agreement.agreement_id, "status": agreement.status},
        )
    if now > agreement.code_expires_at:
        raise FailedPrecondition(
            "VERIFICATION_CODE_EXPIRED",
            f"the code expired at {agreement.code_expires_at.isoformat()}; sign the agreement again",
            "验证码已过期,请重新签约",
            field="verification_code",
            metadata={"expire_time": agreement.code_expires_at.isoformat()},
        )
    ok = hmac.compare_digest(stored_digest, code_digest(agreement.agreement_id, given_code.strip()))
    return Verdict.CONFIRMED if ok else Verdict.WRONG


def locks_after(wrong_attempts_before: int) -> bool:
    """True when this wrong code is the one that locks the agreement."""
    return wrong_attempts_before + 1 >= MAX_WRONG_CODES


def wrong_code(agreement_id: str, attempts: int) -> FailedPrecondition:
    if attempts >= MAX_WRONG_CODES:
        return agreement_locked(agreement_id)
    left = MAX_WRONG_CODES - attempts
    return FailedPrecondition(
        "VERIFICATION_CODE_WRONG",
        f"the verification code is wrong; {left} attempts left",
        f"验证码错误,还可尝试{left}次",
        field="verification_code",
        metadata={"agreement_id": agreement_id, "attempts_left": left},
    )


def agreement_locked(agreement_id: str) -> FailedPrecondition:
    return FailedPrecondition(
        "AGREEMENT_LOCKED",
        f"agreement {agreement_id} is locked after {MAX_WRONG_CODES} wrong codes; sign a new agreement",
        f"验证码连续错误{MAX_WRONG_CODES}次,协议已锁定,请重新签约",
        metadata={"agreement_id": agreement_id},
    )


def check_revocable(agreement: Agreement) -> None:
    if agreement.status is AgreementStatus.REVOKED:
        raise FailedPrecondition(
            "AGREEMENT_REVOKED",
            f"agreement {agreement.agreement_id} is already revoked",
            "该协议已解除",
            metadata={"agreement_id": agreement.agreement_id},
        )


def agreement_not_found(agreement_id: str) -> NotFound:
    return NotFound(
        "AGREEMENT_NOT_FOUND",
        f"agreement {agreement_id} not found",
        "扣款协议不存在",
        field="agreement_id",
        metadata={"agreement_id": agreement_id},
    )


def already_active(insured_masked: str) -> FailedPrecondition:
    return FailedPrecondition(
        "AGREEMENT_ALREADY_ACTIVE",
        "the insured person already has an active deduction agreement; revoke it first",
        "该参保人已有生效的委托扣款协议,请先解除",
        metadata={"insured": insured_masked},
    )


def after_failed_run(failed_runs_before: int, max_failed_runs: int) -> tuple[int, bool]:
    """(failed runs in a row now, whether the agreement falls back to ordinary orders)."""
    failed = failed_runs_before + 1
    return failed, failed >= max_failed_runs
