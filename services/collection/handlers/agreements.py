"""Signing, confirming, listing and revoking entrusted deduction agreements (R27).

The card number is encrypted before it reaches a repository and is never logged or returned; the
verification code goes out through the SMS gateway and only its digest is stored."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from google.protobuf.message import Message

from services.collection.card_vault import CardVault
from services.collection.domain.agreements import (
    CODE_TTL,
    Agreement,
    AgreementStatus,
    IdType,
    Relationship,
    Verdict,
    agreement_not_found,
    already_active,
    check_revocable,
    check_signable,
    checked_card_number,
    checked_mobile,
    checked_text,
    code_digest,
    code_from_number,
    judge_code,
    locks_after,
    wrong_code,
)
from services.collection.gateways.sms import SmsGateway
from services.collection.handlers.items import identify_insured
from services.collection.ports import CollectionUow, UowFactory
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.errors import DomainError, required
from services.common.idempotency import idempotent
from services.common.masking import mask_text
from services.common.resident_id import canonical, parse_resident_id

log = structlog.get_logger(__name__)

R = TypeVar("R", bound=Message)


@dataclass(frozen=True)
class SignAgreement:
    payer_id_number: str
    insured_id_type: IdType
    insured_id_number: str
    insured_name: str
    bank_name: str
    card_number: str
    card_holder_name: str
    card_phone: str
    relationship: Relationship
    consent_given: bool

    def __repr__(self) -> str:  # a command may end up in a traceback: never with the card number
        return f"SignAgreement(payer={mask_text(self.payer_id_number)}, card=****)"


async def sign_agreement(
    command: SignAgreement,
    uow: CollectionUow,
    clock: Clock,
    vault: CardVault,
    sms: SmsGateway,
    new_code: Callable[[], str] = lambda: code_from_number(secrets.randbelow(10**6)),
) -> Agreement:
    """A pending agreement; a code goes to the card's phone and must be confirmed within 5 minutes."""
    now = clock.now()
    payer = parse_resident_id(command.payer_id_number, today=now.date(), field="payer_id_number").number
    insured = await identify_insured(uow, clock, command.insured_id_number, command.insured_name)
    bank = checked_text(command.bank_name, "bank_name", "开户银行")
    holder = checked_text(command.card_holder_name, "card_holder_name", "持卡人姓名")
    card_number = checked_card_number(command.card_number)
    phone = checked_mobile(command.card_phone)
    check_signable(command.relationship, holder, command.insured_name.strip(), command.consent_given)
    if await uow.agreements.active_for_insured(insured.number):
        raise already_active(mask_text(insured.number))
    agreement = Agreement(
        agreement_id=str(uuid.uuid4()),
        payer_id_number=payer,
        insured_id_type=command.insured_id_type,
        insured_id_number=insured.number,
        insured_name=command.insured_name.strip(),
        bank_name=bank,
        card_last_four=card_number[-4:],
        card_holder_name=holder,
        card_phone=phone,
        relationship=command.relationship,
        status=AgreementStatus.PENDING_VERIFICATION,
        code_expires_at=now + CODE_TTL,
        wrong_code_attempts=0,
        failed_deduction_runs=0,
        created_at=now,
    )
    code = new_code()
    await uow.agreements.insert(
        agreement, vault.encrypt(card_number, agreement.agreement_id), code_digest(agreement.agreement_id, code), now
    )
    await sms.send_code(phone, code, agreement.agreement_id, now)
    log.info(
        "agreement_signed",
        agreement_id=agreement.agreement_id,
        relationship=command.relationship,
        card_last_four=agreement.card_last_four,
    )
    return agreement


async def payer_agreement(
    uow: CollectionUow, payer_id_number: str, agreement_id: str, *, for_update: bool = False
) -> tuple[Agreement, bytes]:
    """An agreement of this payer; another payer's agreement is as good as absent."""
    found = await uow.agreements.get(agreement_id, for_update=for_update)
    if found is None or found[0].payer_id_number != canonical(payer_id_number):
        raise agreement_not_found(agreement_id)
    return found


class WrongCode(Exception):
    """A wrong code: the attempt is counted even though the confirmation is refused."""

    def __init__(self, agreement_id: str, locks: bool) -> None:
        super().__init__(agreement_id)
        self.agreement_id = agreement_id
        self.locks = locks


async def confirm_agreement(
    payer_id_number: str, agreement_id: str, code: str, uow: CollectionUow, clock: Clock
) -> Agreement:
    """Activates the agreement when the code is right; raises WrongCode otherwise (see count_wrong_code)."""
    now = clock.now()
    required(code, "verification_code", "验证码")
    agreement, digest = await payer_agreement(uow, payer_id_number, agreement_id, for_update=True)
    if judge_code(agreement, digest, code, now) is Verdict.WRONG:
        raise WrongCode(agreement.agreement_id, locks_after(agreement.wrong_code_attempts))
    if not await uow.agreements.activate(agreement.agreement_id, now):
        raise already_active(mask_text(agreement.insured_id_number))
    log.info("agreement_activated", agreement_id=agreement.agreement_id)
    return (await payer_agreement(uow, payer_id_number, agreement_id))[0]


async def count_wrong_code(wrong: WrongCode, uow: CollectionUow, clock: Clock) -> DomainError:
    """Records the wrong attempt (locking at the fifth) and returns the refusal to answer with."""
    attempts = await uow.agreements.count_wrong_code(wrong.agreement_id, wrong.locks, clock.now())
    log.warning("agreement_wrong_code", agreement_id=wrong.agreement_id, attempts=attempts, locked=wrong.locks)
    return wrong_code(wrong.agreement_id, attempts)


async def confirm_counting_wrong_codes(
    uow_factory: Callable[[], CollectionUnitOfWork],
    request: Message,
    response_type: type[R],
    action: Callable[[CollectionUnitOfWork], Awaitable[R]],
    clock: Clock,
) -> R:
    """Runs the confirmation once per request id. A wrong code is refused, yet it must count toward
    the lock: the confirmation runs in a savepoint, and the counted attempt commits without it."""
    async with uow_factory() as uow:
        try:
            async with uow.conn.transaction():
                response = await idempotent(
                    uow.conn, "ConfirmDeductionAgreement", request, response_type, lambda: action(uow)
                )
        except WrongCode as wrong:
            refusal = await count_wrong_code(wrong, uow, clock)
            await uow.commit()
            raise refusal from None
        await uow.commit()
    return response


async def revoke_agreement(payer_id_number: str, agreement_id: str, uow: CollectionUow, clock: Clock) -> Agreement:
    """解约: no deduction runs for it any more. An attempt already sent is still settled when it answers."""
    agreement, _ = await payer_agreement(uow, payer_id_number, agreement_id, for_update=True)
    check_revocable(agreement)
    await uow.agreements.set_status(agreement.agreement_id, AgreementStatus.REVOKED, clock.now())
    log.info("agreement_revoked", agreement_id=agreement.agreement_id)
    return (await payer_agreement(uow, payer_id_number, agreement_id))[0]


async def list_agreements(payer_id_number: str, uow: CollectionUow, clock: Clock) -> list[Agreement]:
    payer = parse_resident_id(payer_id_number, today=clock.now().date(), field="payer_id_number").number
    return await uow.agreements.list_for_payer(payer)


async def reencrypt_cards(uow_factory: UowFactory, vault: CardVault, clock: Clock, batch_size: int = 500) -> int:
    """Key rotation: every card not under the current key is re-encrypted under it; returns how many.
    Once it returns, the old key can leave the configuration."""
    done = 0
    while True:
        async with uow_factory() as uow:
            stale = await uow.agreements.cards_not_under(vault.current_key_id, batch_size)
            for card in stale:
                fresh = vault.reencrypt(card.key_id, card.ciphertext, card.agreement_id)
                if fresh is not None:
                    await uow.agreements.replace_card(card.agreement_id, fresh, clock.now())
            await uow.commit()
        done += len(stale)
        if len(stale) < batch_size:
            log.info("cards_reencrypted", count=done, key_id=vault.current_key_id)
            return done
