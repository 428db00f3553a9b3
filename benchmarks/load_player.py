"""The load tool's player (benchmarks/load_tool.py): one operation of the mix at a time on the shared
world (benchmarks/load_world.py) with its statistics, and the mix played within time, count and rate
bounds over the one driver (benchmarks/drive.py), with the progress line and more registrations while
it runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from medins.collection.v1 import collection_service_pb2 as col
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk

from benchmarks import drive, load_mix, load_seed
from benchmarks.drive import Latencies
from benchmarks.load_mix import Mix, OperationStats
from benchmarks.load_world import Clients, Paid, World, WrongAnswer

CALL_TIMEOUT = 30.0
CALLER_ID = "load-tool"
# While the load runs, more people are registered so that about REFILL_ON_HAND are left to order for or
# on their way: in small steps of REFILL_CHUNK, one step begun at most every REFILL_STEP_SECONDS and at
# most REFILL_PEOPLE_IN_FLIGHT people registered and not yet assessed. Registration thus follows the
# orders at their pace, as counters register a few people at a time in a deadline week, instead of
# bursts of 200 registrations, their assessments, check-projection writes and look-ups at once (the
# soak's spikes of 2026-11-28 and issue 23 item 5).
REFILL_ON_HAND, REFILL_CHUNK, REFILL_PEOPLE_IN_FLIGHT = 600, 25, 200
REFILL_STEP_SECONDS = 0.2


class Player:
    """Plays one operation at a time on the shared world and records how it went."""

    def __init__(
        self,
        clients: Clients,
        world: World,
        mix: Mix,
        batch_size: int,
        rng: random.Random,
        refill_chunk: int = REFILL_CHUNK,
    ) -> None:
        self.clients, self.world, self.mix, self.batch_size, self.rng = clients, world, mix, batch_size, rng
        self.refill_chunk = refill_chunk
        self.signatures = load_seed.Signers()
        self.operations: dict[str, Callable[[], Awaitable[None]]] = {
            "check": self.check,
            "batch_check": self.batch_check,
            "payer_lookup": self.payer_lookup,
            "order": self.order,
            "pay": self.pay,
            "resend": self.resend,
            "late_pay": self.late_pay,
            "records": self.records,
        }
        self.reset()

    def reset(self) -> None:
        self.stats: dict[str, OperationStats] = {}
        self.substituted: Counter[str] = Counter()
        self.in_flight = 0
        self.started_ns = time.perf_counter_ns()
        self.timeline = load_mix.Timeline()
        self.minutes: dict[int, Latencies] = {}

    async def play(self, due_ns: int | None = None) -> None:
        """One call of the mix; latency runs from `due_ns` when given (open loop), else from now."""
        wanted = self.mix.pick(self.rng.random())
        name = load_mix.resolve(wanted, self.world.possible())
        if name != wanted:
            self.substituted[f"{wanted}->{name}"] += 1
        stats = self.stats.setdefault(name, OperationStats())
        start = time.perf_counter_ns() if due_ns is None else due_ns
        self.in_flight += 1
        try:
            await self.operations[name]()
        except grpc.aio.AioRpcError as exc:
            self._failed(stats, exc.code().name)
        except WrongAnswer:
            self._failed(stats, "WRONG_ANSWER")
        except TimeoutError:
            self._failed(stats, "DEADLINE_EXCEEDED")
        else:
            now = time.perf_counter_ns()
            stats.latency.record_ns(now - start)
            elapsed = (now - self.started_ns) // 1_000_000_000
            self.timeline.record(elapsed, (now - start) // 1000)
            self.minutes.setdefault(elapsed // 60, Latencies()).record_ns(now - start)
        finally:
            self.in_flight -= 1

    def seconds(self) -> float:
        """Seconds since the current play began."""
        return round((time.perf_counter_ns() - self.started_ns) / 1e9, 1)

    def _failed(self, stats: OperationStats, code: str) -> None:
        stats.errors[code] += 1
        self.timeline.record_error((time.perf_counter_ns() - self.started_ns) // 1_000_000_000)

    # -- the operations ----------------------------------------------------------------------------

    def _someone(self) -> load_seed.Person:
        return self.rng.choice(self.world.people)

    async def check(self) -> None:
        person = self._someone()
        reply = await self.clients.enrollment.CheckEnrollment(
            chk.CheckEnrollmentRequest(
                caller_id=CALLER_ID,
                purpose=chk.CHECK_PURPOSE_TAX_COLLECTION,
                target=chk.CheckTarget(resident_id_number=person.number, insurance_year=person.year),
            ),
            timeout=CALL_TIMEOUT,
        )
        if reply.result.status == chk.CHECK_STATUS_NOT_ENROLLED:
            raise WrongAnswer(f"{person.number} registered but checked as not enrolled")

    async def batch_check(self) -> None:
        chosen = [self._someone() for _ in range(self.batch_size)]
        reply = await self.clients.enrollment.BatchCheckEnrollments(
            chk.BatchCheckEnrollmentsRequest(
                caller_id=CALLER_ID,
                purpose=chk.CHECK_PURPOSE_TAX_COLLECTION,
                targets=[chk.CheckTarget(resident_id_number=p.number, insurance_year=p.year) for p in chosen],
            ),
            timeout=CALL_TIMEOUT,
        )
        if len(reply.results) != len(chosen):
            raise WrongAnswer(f"{len(chosen)} asked, {len(reply.results)} answered")

    async def payer_lookup(self) -> None:
        person = self._someone()
        await self.clients.collection.ListPayableItems(
            col.ListPayableItemsRequest(
                payer_id_number=person.number, insured_id_number=person.number, insured_name=person.name
            ),
            timeout=CALL_TIMEOUT,
        )

    async def order(self) -> None:
        person = self.world.unordered.popleft()
        reply = await self.clients.collection.CreateOrder(
            col.CreateOrderRequest(
                request_id=str(uuid.uuid4()), payer_id_number=person.number, payable_item_ids=[person.item_id]
            ),
            timeout=CALL_TIMEOUT,
        )
        # Paid at the moment the order was made, on the services' clock (R21a: never in its future).
        self.world.ordered.append((person, reply.order.order_id, reply.order.create_time.ToDatetime(dt.UTC)))

    async def pay(self) -> None:
        person, order_id, paid_at = self.world.ordered.popleft()
        channel = load_seed.CHANNELS[len(self.world.paid) % len(load_seed.CHANNELS)]
        request = load_seed.notification(
            self.signatures, channel, order_id, person.amount_fen, paid_at, f"ld{uuid.uuid4().hex[:20]}"
        )
        reply = await self.clients.collection.NotifyPayment(request, timeout=CALL_TIMEOUT)
        # An order expired before its payment arrived is still applied: its items were unpaid (R23).
        if reply.outcome != col.NOTIFICATION_OUTCOME_APPLIED:
            raise WrongAnswer(f"payment of order {order_id} answered {reply.outcome}")
        paid = Paid(person, order_id, request, reply.payment_id, paid_at)
        self.world.paid.append(paid)
        self.world.not_yet_paid_twice.append(paid)

    async def resend(self) -> None:
        paid = self.rng.choice(self.world.paid)
        reply = await self.clients.collection.NotifyPayment(
            self.signatures.delivered_again(paid.notification), timeout=CALL_TIMEOUT
        )
        if reply.outcome != col.NOTIFICATION_OUTCOME_APPLIED or reply.payment_id != paid.payment_id:
            raise WrongAnswer(f"resend of payment {paid.payment_id} answered {reply.payment_id} {reply.outcome}")

    async def late_pay(self) -> None:
        paid = self.world.not_yet_paid_twice.popleft()
        request = load_seed.notification(
            self.signatures,
            load_seed.CHANNELS[(len(self.world.paid) + 1) % len(load_seed.CHANNELS)],
            paid.order_id,
            paid.person.amount_fen,
            paid.paid_at,
            f"dbl{uuid.uuid4().hex[:20]}",
        )
        reply = await self.clients.collection.NotifyPayment(request, timeout=CALL_TIMEOUT)
        if reply.outcome != col.NOTIFICATION_OUTCOME_REFUND_RAISED:
            raise WrongAnswer(f"double payment of order {paid.order_id} answered {reply.outcome}")

    async def records(self) -> None:
        paid = self.rng.choice(self.world.paid)
        await self.clients.collection.ListPaymentRecords(
            col.ListPaymentRecordsRequest(payer_id_number=paid.person.number, scope=col.RECORD_SCOPE_MINE),
            timeout=CALL_TIMEOUT,
        )


# -- playing within bounds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    seconds: float
    count: int | None
    rate: float | None = None
    concurrency: int | None = None


async def play_within(player: Player, bounds: Bounds, *, on_second: Callable[[], None] | None = None) -> float:
    """Plays the mix within the bounds, with the progress line; returns the seconds it took."""
    player.reset()
    stop_at = player.started_ns + int(bounds.seconds * 1e9)
    progress = asyncio.create_task(_progress(player, bounds, on_second))
    refill = asyncio.create_task(_refill(player)) if player.world.refill else None
    try:
        if bounds.rate is not None:
            planned = load_mix.calls_planned(bounds.rate, bounds.seconds, bounds.count) or 0
            await drive.on_schedule(
                lambda k, due: player.play(due), rate=bounds.rate, begin_ns=player.started_ns, calls=planned
            )
        else:
            await drive.in_parallel(
                player.play, concurrency=bounds.concurrency or 1, until_ns=stop_at, count=bounds.count
            )
    finally:
        progress.cancel()
        if refill is not None:
            refill.cancel()
    elapsed = (time.perf_counter_ns() - player.started_ns) / 1e9
    player.timeline.close(1 << 62)
    sys.stderr.write("\n")
    return elapsed


def refill_now(on_hand: int, on_their_way: int, chunk: int, steps_in_flight: int) -> bool:
    """Whether to begin a refill step of `chunk` people now: when those on hand and on their way are fewer
    than REFILL_ON_HAND, and fewer than REFILL_PEOPLE_IN_FLIGHT people (at least one step) are on their way."""
    most_in_flight = max(1, REFILL_PEOPLE_IN_FLIGHT // chunk)
    return on_hand + on_their_way < REFILL_ON_HAND and steps_in_flight < most_in_flight


async def _refill(player: Player) -> None:
    """Registers more people in small steps whenever few are left to order for; runs until cancelled."""
    steps: set[asyncio.Task[None]] = set()
    on_their_way = [0]
    try:
        while True:
            await asyncio.sleep(REFILL_STEP_SECONDS)
            if refill_now(len(player.world.unordered), on_their_way[0], player.refill_chunk, len(steps)):
                step = asyncio.create_task(_refill_step(player, on_their_way))
                steps.add(step)
                step.add_done_callback(steps.discard)
    finally:
        for step in steps:
            step.cancel()


async def _refill_step(player: Player, on_their_way: list[int]) -> None:
    """Registers one step of people and, once the tax side has assessed them, gives them to the mix."""
    world, clients, chunk = player.world, player.clients, player.refill_chunk
    on_their_way[0] += chunk
    try:
        began = player.seconds()
        numbers = load_seed.new_numbers(world.region, chunk, player.rng)
        registered = await load_seed.register(clients.registration, world.region, numbers)
        written = player.seconds()
        people = await load_seed.assessed(clients.collection, registered, within_seconds=60, first_look_after=0.5)
    except grpc.aio.AioRpcError as exc:
        world.refill_errors[exc.code().name] += 1
        await asyncio.sleep(1.0)  # the next step not at once
        return
    finally:
        on_their_way[0] -= chunk
    world.people.extend(people)
    world.unordered.extend(people)
    world.refilled += len(people)
    world.refills.append((began, written, player.seconds(), len(people)))


async def _progress(player: Player, bounds: Bounds, on_second: Callable[[], None] | None) -> None:
    while True:
        await asyncio.sleep(1.0)  # the line's refresh period
        elapsed = (time.perf_counter_ns() - player.started_ns) / 1e9
        last = player.timeline.close(int(elapsed))
        calls = sum(s.calls for s in player.stats.values())
        errors = sum(sum(s.errors.values()) for s in player.stats.values())
        line = load_mix.progress_line(
            elapsed=elapsed,
            seconds=bounds.seconds,
            calls=calls,
            errors=errors,
            rate=last["calls"] if last else 0,
            p99_ms=last.get("p99_ms") if last else None,
            in_flight=player.in_flight,
        )
        sys.stderr.write("\r" + line.ljust(100))
        sys.stderr.flush()
        if on_second is not None:
            on_second()
