"""The SMS gateway that carries verification codes to a card's phone (R27)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Protocol

import structlog

from services.collection.domain.agreements import mask_phone
from services.collection.gateways.local_files import append_once

log = structlog.get_logger(__name__)


class SmsGateway(Protocol):
    async def send_code(self, phone: str, code: str, reference: str, now: dt.datetime) -> None:
        """Sends the verification code; `reference` names what it verifies (the agreement)."""
        ...


class LocalSmsGateway:
    """Sends nothing: logs the masked phone and keeps the code (in a JSON-lines file when configured,
    which is how tests read it), the way a developer's phone would show it."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self.codes: dict[str, str] = {}

    async def send_code(self, phone: str, code: str, reference: str, now: dt.datetime) -> None:
        self.codes[reference] = code
        if self._path is not None:
            record = {
                "reference": reference,
                "masked_phone": mask_phone(phone),
                "code": code,
                "sent_at": now.isoformat(),
            }
            await asyncio.to_thread(append_once, self._path, "reference", record)
        log.info("verification_code_sent", reference=reference, phone=mask_phone(phone))
