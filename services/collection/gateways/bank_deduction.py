"""The banks' deduction interface (批量扣款) behind entrusted agreements (R27).

A deduction carries our attempt id; the bank deduplicates on it, so sending the same attempt again (after
a timeout, after a crash) never moves money twice, and `query` tells what became of an attempt whose
answer was lost."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from services.collection.gateways.local_files import locked, read_document, write_document
from services.common.clock import Clock
from services.common.money import Fen


class DeductionStatus(enum.StrEnum):
    SUCCEEDED = "SUCCEEDED"
    REFUSED = "REFUSED"


@dataclass(frozen=True)
class DeductionRequest:
    attempt_id: str
    order_id: str
    card_number: str
    holder_name: str
    amount_fen: Fen


@dataclass(frozen=True)
class DeductionResult:
    attempt_id: str
    status: DeductionStatus
    amount_fen: Fen
    transaction_id: str | None = None
    paid_at: dt.datetime | None = None
    refusal: str | None = None


class BankTimeout(Exception):
    """The bank did not answer in time: the deduction may or may not have happened."""


class BankDeduction(Protocol):
    async def deduct(self, request: DeductionRequest) -> DeductionResult:
        """Deducts once per attempt id. Raises BankTimeout when the answer does not come back."""
        ...

    async def query(self, attempt_id: str) -> DeductionResult | None:
        """What became of an attempt; None when the bank never received it."""
        ...


def account_key(card_number: str) -> str:
    """The simulator files accounts under a digest, so its ledger holds no card number either."""
    return hashlib.sha256(card_number.encode()).hexdigest()


class SimulatedBank:
    """A bank in a JSON file: accounts with a balance and a number of answers to lose (timeouts), and
    every deduction by attempt id. Succeeds, refuses for insufficient funds, or moves the money and
    times out, reporting the success when asked later."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self._path = path
        self._clock = clock

    # -- what tests and demos set up -----------------------------------------------------------

    def open_account(self, card_number: str, balance_fen: int, *, timeouts: int = 0) -> None:
        with locked(self._path):
            ledger = self._ledger()
            ledger["accounts"][account_key(card_number)] = {"balance_fen": balance_fen, "timeouts": timeouts}
            write_document(self._path, ledger)

    def balance(self, card_number: str) -> int:
        with locked(self._path):
            return int(self._ledger()["accounts"][account_key(card_number)]["balance_fen"])

    def deductions(self) -> dict[str, dict[str, Any]]:
        with locked(self._path):
            return dict(self._ledger()["deductions"])

    # -- the interface -------------------------------------------------------------------------

    async def deduct(self, request: DeductionRequest) -> DeductionResult:
        result, lose_answer = await asyncio.to_thread(self._deduct, request)
        if lose_answer:
            raise BankTimeout(f"no answer for attempt {request.attempt_id}")
        return result

    async def query(self, attempt_id: str) -> DeductionResult | None:
        return await asyncio.to_thread(self._query, attempt_id)

    def _ledger(self) -> dict[str, Any]:
        return read_document(self._path, {"accounts": {}, "deductions": {}})

    def _deduct(self, request: DeductionRequest) -> tuple[DeductionResult, bool]:
        with locked(self._path):
            ledger = self._ledger()
            known = ledger["deductions"].get(request.attempt_id)
            if known is not None:
                return _result(request.attempt_id, known), False
            account = ledger["accounts"].get(account_key(request.card_number))
            now = self._clock.now()
            lose_answer = False
            if account is None or account["balance_fen"] < request.amount_fen:
                entry: dict[str, Any] = {
                    "status": DeductionStatus.REFUSED.value,
                    "amount_fen": request.amount_fen,
                    "refusal": "INSUFFICIENT_FUNDS" if account is not None else "NO_SUCH_ACCOUNT",
                }
            else:
                account["balance_fen"] -= request.amount_fen
                entry = {
                    "status": DeductionStatus.SUCCEEDED.value,
                    "amount_fen": request.amount_fen,
                    "transaction_id": f"BANK{uuid.uuid4().hex[:20].upper()}",
                    "paid_at": now.isoformat(),
                    "order_id": request.order_id,
                }
                if account.get("timeouts", 0) > 0:
                    account["timeouts"] -= 1
                    lose_answer = True
            ledger["deductions"][request.attempt_id] = entry
            write_document(self._path, ledger)
            return _result(request.attempt_id, entry), lose_answer

    def _query(self, attempt_id: str) -> DeductionResult | None:
        with locked(self._path):
            entry = self._ledger()["deductions"].get(attempt_id)
        return _result(attempt_id, entry) if entry is not None else None


def _result(attempt_id: str, entry: dict[str, Any]) -> DeductionResult:
    return DeductionResult(
        attempt_id=attempt_id,
        status=DeductionStatus(entry["status"]),
        amount_fen=Fen(entry["amount_fen"]),
        transaction_id=entry.get("transaction_id"),
        paid_at=dt.datetime.fromisoformat(entry["paid_at"]) if entry.get("paid_at") else None,
        refusal=entry.get("refusal"),
    )
