"""People to play with, made through the services' own RPCs (never by writing their databases): new
residents registered in one region, waited for until the tax side has assessed their payable item, and
the channels' signed payment notifications for their orders.

Used by the load tool against a running system and by `make bench` for its end-to-end phase."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as reg

from benchmarks import dataset
from ops.channel_sim.dev_keys import configured_root, ensure_dev_keys, load_simulators
from services.collection.domain.model import Channel
from services.common.clock import Clock, clock_from_file
from services.common.resident_id import check_character
from services.common.settings import load_settings

if TYPE_CHECKING:
    from medins.collection.v1.collection_service_pb2_grpc import CollectionServiceAsyncStub as CollectionClient
    from medins.registration.v1.registration_service_pb2_grpc import RegistrationServiceAsyncStub as RegistrationClient

ROWS_PER_CALL = 1_000
LOOKUP_CONCURRENCY = 16
SEED_CALL_TIMEOUT = 300.0
# Adults of working age whatever the clock of the system under load says (2023 for the test systems,
# today for `make run`), so NON_EMPLOYED is their category in every year they are registered.
_FIRST_BIRTH = dt.date(1972, 1, 1)
_BIRTH_DAYS = 8_000


@dataclass(frozen=True)
class Person:
    """A registered resident with one unpaid payable item."""

    number: str
    name: str
    item_id: str
    amount_fen: int
    year: int


def new_numbers(region: str, count: int, rng: random.Random) -> list[str]:
    """`count` distinct resident IDs of the region's districts, drawn at random (born 1972-1993, any
    sequence) so that runs against the same databases seldom meet a number registered before."""
    prefixes = dataset.REGION_PREFIXES.get(region, (region,))
    numbers: set[str] = set()
    while len(numbers) < count:
        born = _FIRST_BIRTH + dt.timedelta(days=rng.randrange(_BIRTH_DAYS))
        body = f"{rng.choice(prefixes)}{born:%Y%m%d}{rng.randrange(1000):03d}"
        numbers.add(body + check_character(body))
    return sorted(numbers)


def name_of(number: str) -> str:
    return f"负载{number[-5:-1]}"


async def register(registration: RegistrationClient, region: str, numbers: Sequence[str]) -> list[str]:
    """Batch-registers the people (automatic review); returns those registered (a number held from an
    earlier run is refused and left out)."""
    registered: list[str] = []
    for start in range(0, len(numbers), ROWS_PER_CALL):
        chunk = numbers[start : start + ROWS_PER_CALL]
        reply = await registration.BatchRegisterResidents(
            reg.BatchRegisterResidentsRequest(
                request_id=str(uuid.uuid4()),
                batch_id=f"load-{uuid.uuid4()}",
                submitter_code=region,
                rows=[
                    reg.RegistrationRow(
                        row_number=k + 1,
                        resident_id_number=n,
                        name=name_of(n),
                        phone="13900139000",
                        region_code=region,
                        category=common_pb2.CATEGORY_NON_EMPLOYED,
                        # Changzhou (the default region) asks a non-employed resident for both (R45).
                        evidence=[
                            reg.Evidence(kind=reg.EVIDENCE_KIND_HOUSEHOLD_REGISTER, document_ref=f"HH-{n}"),
                            reg.Evidence(kind=reg.EVIDENCE_KIND_EMPLOYMENT_REGISTRATION_CARD, document_ref=f"JY-{n}"),
                        ],
                    )
                    for k, n in enumerate(chunk)
                ],
            ),
            timeout=SEED_CALL_TIMEOUT,
        )
        registered += [n for n, r in zip(chunk, reply.results, strict=True) if r.outcome == reg.ROW_OUTCOME_REGISTERED]
    return registered


async def assessed(
    collection: CollectionClient, numbers: Sequence[str], *, within_seconds: float, first_look_after: float = 0.0
) -> list[Person]:
    """Asks for each person's payable items (as the payer would) until every one has an unpaid item or
    the time is up, the first time after `first_look_after` seconds; returns those that have one."""
    found: dict[str, Person] = {}
    deadline = time.monotonic() + within_seconds
    waiting = list(numbers)
    semaphore = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def look(number: str) -> None:
        async with semaphore:
            try:
                reply = await collection.ListPayableItems(
                    col.ListPayableItemsRequest(
                        payer_id_number=number, insured_id_number=number, insured_name=name_of(number)
                    ),
                    timeout=30,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:  # the tax side has not heard of them yet
                    return
                raise
        for item in reply.payable_items:
            if not item.pending_order_id:
                found[number] = Person(
                    number, name_of(number), item.payable_item_id, item.amount_fen, item.insurance_year
                )
                return

    await asyncio.sleep(first_look_after)  # the assessment takes at least this long: no look-up in vain
    while waiting:
        await asyncio.gather(*(look(n) for n in waiting))
        waiting = [n for n in waiting if n not in found]
        if waiting and time.monotonic() > deadline:
            break
        if waiting:
            await asyncio.sleep(0.5)  # the assessment worker is still creating items; asked again
    return [found[n] for n in numbers if n in found]


# -- channel notifications ----------------------------------------------------------------------------

CHANNELS = (Channel.WECHAT, Channel.ALIPAY, Channel.BANK_APP)


def ensure_channel_keys() -> None:
    """Makes the channels' keys the services will verify with, if there are none. Called before the
    services start: they read their verify/ directory once, so keys made after they are up are never
    trusted and every notification is refused (a fresh clone's first bench-scale run, CI 2026-12-04)."""
    ensure_dev_keys(configured_root())


class Signers:
    """The channels' simulators (ops/channel_sim) with the keys the services verify with (beside
    MEDINS_CHANNEL_KEYS_DIR, by default `make channel-keys`'): every notification of the load is
    verified for real (R42)."""

    def __init__(self, root: Path | None = None, clock: Clock | None = None) -> None:
        root = root or configured_root()
        # WeChat Pay signs with the time it calls, which the services judge by their own clock (R42).
        self.clock = clock or clock_from_file(load_settings().clock_file)
        ensure_dev_keys(root)
        self.simulators = load_simulators(root)

    def callback(
        self, channel: Channel, order_id: str, amount_fen: int, paid_at: dt.datetime, transaction_id: str
    ) -> tuple[dict[str, str], bytes]:
        args = (order_id, amount_fen, transaction_id, paid_at)
        if channel is Channel.WECHAT:
            return self.simulators.wechat.build_callback(*args, sent_at=self.clock.now())
        if channel is Channel.ALIPAY:
            return self.simulators.alipay.build_callback(*args)
        if channel is Channel.BANK_APP:
            return self.simulators.unionpay[channel].build_callback(order_id, amount_fen, transaction_id[:21], paid_at)
        raise ValueError(f"no payload format for {channel}")

    def delivered_again(self, request: col.NotifyPaymentRequest) -> col.NotifyPaymentRequest:
        """The channel calling again: the same body under a new request id. WeChat Pay signs every call
        it makes anew (its own timestamp and nonce), so its resend is signed again; Alipay and the bank
        gateways send the same signed form."""
        again = col.NotifyPaymentRequest()
        again.CopyFrom(request)
        again.request_id = str(uuid.uuid4())
        if again.channel == common_pb2.PAYMENT_CHANNEL_WECHAT:
            sent = self.clock.now()
            headers = self.simulators.wechat.sign(again.payload, int(sent.timestamp()), secrets.token_hex(16).upper())
            del again.headers[:]
            again.headers.extend(col.NotificationHeader(name=n, content=v) for n, v in headers.items())
        return again


def notification(
    signatures: Signers,
    channel: Channel,
    order_id: str,
    amount_fen: int,
    paid_at: dt.datetime,
    transaction_id: str,
) -> col.NotifyPaymentRequest:
    """The channel's signed notification (its body and headers), with a request id of its own."""
    headers, body = signatures.callback(channel, order_id, amount_fen, paid_at, transaction_id)
    return col.NotifyPaymentRequest(
        request_id=str(uuid.uuid4()),
        channel=common_pb2.PaymentChannel.Value(f"PAYMENT_CHANNEL_{channel}"),
        payload=body,
        headers=[col.NotificationHeader(name=name, content=value) for name, value in headers.items()],
    )
