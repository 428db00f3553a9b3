"""Unpaid reminder rounds (R29): exactly one reminder per person per round, even when the worker runs
twice at once or is killed halfway.

The round and its reminders are created in one transaction (a unique round key and a unique person per
round). Each reminder is then sent under its row lock and marked sent in the same transaction; its id is
the notifier's message id, so a reminder sent just before a crash, and sent again after it, reaches the
person once."""

from __future__ import annotations

import structlog

from services.collection.domain.reminders import ReminderStatus, due_rounds, reminder_text
from services.collection.gateways.notifier import Message, Notifier
from services.collection.ports import UowFactory
from services.common.clock import Clock
from services.common.masking import mask_text

log = structlog.get_logger(__name__)


async def start_due_rounds(uow_factory: UowFactory, clock: Clock, days_before: int) -> int:
    """Opens every reminder round that is due today; returns how many reminders were created."""
    now = clock.now()
    created = 0
    async with uow_factory() as uow:
        windows = due_rounds(await uow.reminders.open_windows(now.date()), now.date(), days_before)
    for window in windows:
        async with uow_factory() as uow:
            count = await uow.reminders.start_round(window, days_before, now)
            await uow.commit()
        if count:
            log.info(
                "reminder_round_started",
                region_code=window.region_code,
                insurance_year=window.insurance_year,
                window_end=window.window_end.isoformat(),
                reminders=count,
            )
        created += count
    return created


async def send_pending_reminders(uow_factory: UowFactory, clock: Clock, notifier: Notifier, limit: int) -> int:
    """Sends up to `limit` pending reminders, each in its own transaction; returns how many were handled."""
    handled = 0
    while handled < limit:
        async with uow_factory() as uow:
            reminder = await uow.reminders.lock_next_pending()
            if reminder is None:
                break
            now = clock.now()
            if reminder.unpaid_fen == 0:
                await uow.reminders.finish(reminder.reminder_id, ReminderStatus.SKIPPED, now)
            else:
                await notifier.notify(
                    Message(
                        message_id=reminder.reminder_id,
                        recipient_id_number=reminder.resident_id_number,
                        kind="UNPAID_REMINDER",
                        text=reminder_text(
                            reminder.name, reminder.insurance_year, reminder.unpaid_fen, reminder.window_end
                        ),
                    ),
                    now,
                )
                await uow.reminders.finish(reminder.reminder_id, ReminderStatus.SENT, now)
            await uow.commit()
        handled += 1
        log.debug("reminder_handled", recipient=mask_text(reminder.resident_id_number))
    return handled


async def remind(uow_factory: UowFactory, clock: Clock, notifier: Notifier, days_before: int, batch_size: int) -> int:
    """The reminder worker's step."""
    created = await start_due_rounds(uow_factory, clock, days_before)
    return created + await send_pending_reminders(uow_factory, clock, notifier, batch_size)
