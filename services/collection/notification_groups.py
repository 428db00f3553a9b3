"""Group commit of payment notifications (issue 23, R21): notifications arriving while the intake's
transactions are busy are taken in together, in one transaction, as `NotifyPayments` takes a batch,
and each caller is answered alone with exactly what `take_in` would have answered.

No notification waits on a timer. A notification that finds a free slot (fewer than `in_flight` groups
running) starts a group of its own at once; one that finds none waits for the next free slot and goes
with every other waiting notification, at most `max_group` of them. So a quiet intake works as before,
one transaction per notification, and a busy one pays BEGIN and COMMIT once per group.

What holds for each notification, whatever else is in its group: one effect per channel transaction
and per caller request id (copies in one group: the first applies, the others see it in the same
transaction), its refusal recorded and answered alone, orders locked in one order
(`payment_intake.take_in_together`). The family accounts and items the orders share are locked after
their order, not in one global order, so a group can deadlock with another transaction holding one of
them: PostgreSQL breaks it within deadlock_timeout and the group is tried again (the other side, if it
is the one broken, answers TRANSIENT_CONFLICT). If the group cannot commit (a copy racing in another process kept
getting in the way, or any error), each of its notifications is taken in alone, so one bad notification
never fails the others. If COMMIT was sent and its answer lost, the group may have committed: each
caller gets that error, as it would alone, and its resend is answered as a replay."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
from dataclasses import dataclass, field

import structlog

from services.collection import payment_intake
from services.collection.channels.signature import NotificationVerifier
from services.collection.domain.intake import IntakeOutcome, Notification
from services.collection.metrics import PAYMENT_GROUP_SIZE, PAYMENT_INTAKE_BUSY
from services.collection.payment_intake import Admitted, Rejected, UowFactory
from services.common.clock import Clock
from services.common.errors import ResourceExhausted
from services.common.settings import Settings

log = structlog.get_logger(__name__)

BUSY_RETRY_AFTER_SECONDS = 1.0


@dataclass(frozen=True)
class GroupLimits:
    """How many groups run at once (each holds one database connection) and how large one may be."""

    in_flight: int = 2
    max_group: int = 64
    # Notifications waiting for a slot, at most: beyond it a notification is answered busy at once
    # (nothing stored; the channel sends it again on its schedule) instead of queueing without bound.
    max_waiting: int = 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> GroupLimits:
        return cls(
            in_flight=settings.intake_groups_in_flight,
            max_group=settings.intake_group_max,
            max_waiting=settings.intake_waiting_max,
        )


@dataclass(eq=False)
class _Waiting:
    notification: Notification
    admission: Admitted | Rejected
    answer: asyncio.Future[IntakeOutcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    caller: asyncio.Task[object] | None = field(default_factory=asyncio.current_task)
    left: bool = False  # its caller, cancelled, has left

    @property
    def gone(self) -> bool:
        """Its caller is cancelled: it has left, or is told to (its task has yet to run to hear it)."""
        return self.left or (self.caller is not None and self.caller.cancelling() > 0)


class NotificationGroups:
    """The intake of one process: `take_in` one notification, grouped with those waiting beside it."""

    def __init__(
        self,
        uow_factory: UowFactory,
        clock: Clock,
        verifier: NotificationVerifier,
        skew: dt.timedelta,
        limits: GroupLimits = GroupLimits(),
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._verifier = verifier
        self._skew = skew
        self._limits = limits
        self._waiting: deque[_Waiting] = deque()
        self._running: set[asyncio.Task[None]] = set()

    async def take_in(self, notification: Notification) -> IntakeOutcome:
        """What `payment_intake.take_in` answers for it. Verified here, before it waits (a notification
        refused by its signature still goes to the database, for its record); ResourceExhausted when
        `max_waiting` already wait (the busy answer is not stored). A caller cancelled before
        its group starts leaves it; once the group started, its effect stands (as when a client goes
        away after a commit: it sends again and is answered the same)."""
        if len(self._waiting) >= self._limits.max_waiting:
            PAYMENT_INTAKE_BUSY.inc()
            raise ResourceExhausted(
                "INTAKE_BUSY",
                f"{len(self._waiting)} notifications are waiting for the database; nothing was stored, send it again",
                "缴费通知处理繁忙,未作处理,请稍后重发",
                retry_after=BUSY_RETRY_AFTER_SECONDS,
            )
        admission = payment_intake.admission_of(notification, self._verifier, self._clock.now(), self._skew)
        waiting = _Waiting(notification, admission)
        self._waiting.append(waiting)
        self._start_groups()
        try:
            return await asyncio.shield(waiting.answer)
        except asyncio.CancelledError:
            if waiting in self._waiting:
                self._waiting.remove(waiting)
            else:  # its group answers nobody: its error, if any, is not left unretrieved
                waiting.left = True
                waiting.answer.add_done_callback(lambda answer: answer.cancelled() or answer.exception())
            raise

    def _start_groups(self) -> None:
        while self._waiting and len(self._running) < self._limits.in_flight:
            group = [self._waiting.popleft() for _ in range(min(len(self._waiting), self._limits.max_group))]
            task = asyncio.get_running_loop().create_task(self._run(group))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start_groups()

    async def _run(self, group: list[_Waiting]) -> None:
        try:
            # A caller gone between its group being formed and the group's first step leaves it too.
            await self._take_in([w for w in group if not w.gone])
        finally:  # the process stopping: nobody is left waiting for ever
            for waiting in group:
                if not waiting.answer.done():
                    waiting.answer.cancel()

    async def _take_in(self, group: list[_Waiting]) -> None:
        if not group:
            return
        PAYMENT_GROUP_SIZE.observe(len(group))
        if len(group) > 1:
            try:
                outcomes = await payment_intake.take_in_together(
                    [w.notification for w in group], [w.admission for w in group], self._uow, self._clock
                )
            except payment_intake.CommitUnanswered as unanswered:  # perhaps committed: each caller
                # is answered as if alone (taken in again, each delivery would be recorded twice)
                log.warning("payment_group_commit_unanswered", notifications=len(group), error=str(unanswered))
                for waiting in group:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(unanswered.error)
                return
            except Exception as error:  # not committed: each taken in alone below, so one bad
                # notification never fails the others
                log.warning("payment_group_failed", notifications=len(group), error=f"{type(error).__name__}: {error}")
                outcomes = None
            if outcomes is not None:
                for waiting, outcome in zip(group, outcomes, strict=True):
                    _answer(waiting, outcome)
                return
        for waiting in group:
            try:
                outcome = await payment_intake.take_in_admitted(
                    waiting.notification, waiting.admission, self._uow, self._clock
                )
            except Exception as error:  # its caller's, answered as the call's error
                if not waiting.answer.done():
                    waiting.answer.set_exception(error)
            else:
                _answer(waiting, outcome)


def _answer(waiting: _Waiting, outcome: IntakeOutcome) -> None:
    if not waiting.answer.done():
        waiting.answer.set_result(outcome)
