"""RabbitMQ topology, declared idempotently by every process that uses it.

    medins.events (topic) --enrollment.*--> collection.enrollment-events   (quorum)
                          --payment.*-----> registration.payment-events    (quorum)
    unroutable events ----alternate-exchange--> medins.unrouted            (never lost)

Per consumer queue Q:
    Q.retry.<d>ms  quorum queues with message TTL d, dead-lettering back into Q: the back-off tiers.
    Q.dlq          where a message lands after the last tier, with the reason in its headers.
The consumer moves a failed message to the next tier itself (it knows the attempt count). The broker's
delivery limit on Q is the backstop for a message that crashes its consumer before it can do so.
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel
from pamqp.common import FieldTable

EVENTS_EXCHANGE = "medins.events"
UNROUTED_EXCHANGE = "medins.unrouted"
UNROUTED_QUEUE = "medins.unrouted"
# Redeliveries of one message (consumer crashed or connection lost mid-processing) before the broker
# parks it in the DLQ on its own.
DELIVERY_LIMIT = 20


@dataclass(frozen=True)
class ConsumerQueue:
    name: str
    bindings: tuple[str, ...]

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    def retry_queue(self, delay_ms: int) -> str:
        return f"{self.name}.retry.{delay_ms}ms"


COLLECTION_ENROLLMENT_EVENTS = ConsumerQueue("collection.enrollment-events", ("enrollment.*", "coverage.*"))
REGISTRATION_PAYMENT_EVENTS = ConsumerQueue("registration.payment-events", ("payment.*",))
CONSUMER_QUEUES = (COLLECTION_ENROLLMENT_EVENTS, REGISTRATION_PAYMENT_EVENTS)

_QUORUM: FieldTable = {"x-queue-type": "quorum"}
# At-least-once dead-lettering: a message is removed from its source only once the target has it.
_SAFE_DEAD_LETTERING: FieldTable = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}


async def declare_topology(channel: AbstractChannel, retry_delays_ms: tuple[int, ...]) -> None:
    """Declares exchanges, queues and bindings. Safe to call any number of times."""
    unrouted = await channel.declare_exchange(UNROUTED_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True)
    unrouted_queue = await channel.declare_queue(UNROUTED_QUEUE, durable=True, arguments=_QUORUM)
    await unrouted_queue.bind(unrouted)
    events = await channel.declare_exchange(
        EVENTS_EXCHANGE,
        aio_pika.ExchangeType.TOPIC,
        durable=True,
        arguments={"alternate-exchange": UNROUTED_EXCHANGE},
    )
    for consumer in CONSUMER_QUEUES:
        await channel.declare_queue(consumer.dlq, durable=True, arguments=_QUORUM)
        main = await channel.declare_queue(
            consumer.name,
            durable=True,
            arguments={
                **_QUORUM,
                **_SAFE_DEAD_LETTERING,
                "x-delivery-limit": DELIVERY_LIMIT,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": consumer.dlq,
            },
        )
        for pattern in consumer.bindings:
            await main.bind(events, pattern)
        for delay in retry_delays_ms:
            await channel.declare_queue(
                consumer.retry_queue(delay),
                durable=True,
                arguments={
                    **_QUORUM,
                    **_SAFE_DEAD_LETTERING,
                    "x-message-ttl": delay,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": consumer.name,
                },
            )
