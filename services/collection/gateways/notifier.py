"""Messages to taxpayers (the e-tax app's inbox, SMS): unpaid reminders (R29) and deduction fallbacks
(R27). A notifier delivers each message id at most once, so a sender that retries after a crash with
the same id never reaches the person twice."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import structlog

from services.collection.gateways.local_files import append_once
from services.common.masking import mask_text

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Message:
    message_id: str
    recipient_id_number: str
    kind: str
    text: str


class Notifier(Protocol):
    async def notify(self, message: Message, now: dt.datetime) -> bool:
        """Delivers the message; False when this message id was delivered before (nothing sent again)."""
        ...


class LocalNotifier:
    """Keeps each message once per id in a JSON-lines file (or in memory) and logs it masked."""

    def __init__(self, path: Path | None, delay_seconds: float = 0.0) -> None:
        self._path = path
        self._delay = delay_seconds
        self._sent: dict[str, Message] = {}

    async def notify(self, message: Message, now: dt.datetime) -> bool:
        if self._delay:
            await asyncio.sleep(self._delay)  # a real gateway takes its time; tests use this to stop us midway
        if self._path is None:
            fresh = message.message_id not in self._sent
            self._sent.setdefault(message.message_id, message)
        else:
            record = {
                "message_id": message.message_id,
                "recipient_id_number": message.recipient_id_number,
                "kind": message.kind,
                "text": message.text,
                "sent_at": now.isoformat(),
            }
            fresh = await asyncio.to_thread(append_once, self._path, "message_id", record)
        log.info(
            "notification_sent" if fresh else "notification_already_sent",
            message_id=message.message_id,
            kind=message.kind,
            recipient=mask_text(message.recipient_id_number),
        )
        return fresh
