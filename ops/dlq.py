"""Dead-letter queues: list what is parked and why, and replay it once the cause is fixed.

python -m ops.dlq list [--queue collection.enrollment-events]      (also: medins dlq list)
python -m ops.dlq replay --queue collection.enrollment-events [--limit 100]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from services.common.messaging.broker import connect_broker
from services.common.messaging.dead_letters import peek, replay
from services.common.messaging.topology import CONSUMER_QUEUES, ConsumerQueue
from services.common.settings import load_settings

# Connection attempts before the broker is reported unreachable (the back-off doubles from 0.5 s).
CONNECT_ATTEMPTS = 3


class UnknownQueue(ValueError):
    """The operator named a queue no consumer reads."""


def consumers_named(queue_name: str | None) -> list[ConsumerQueue]:
    """The consumer queues to act on: the one named, or all."""
    consumers = [c for c in CONSUMER_QUEUES if queue_name in (None, c.name)]
    if not consumers:
        raise UnknownQueue(f"no consumer queue {queue_name!r}; known: {', '.join(c.name for c in CONSUMER_QUEUES)}")
    return consumers


async def run(command: str, queue_name: str | None, limit: int, out: Callable[[str], None] = print) -> None:
    """Lists (peeks, returning every message) or replays the parked messages of the queues."""
    settings = load_settings()
    consumers = consumers_named(queue_name)
    connection = await connect_broker(settings.broker_urls, attempts=CONNECT_ATTEMPTS)
    try:
        channel = await connection.channel(publisher_confirms=True)
        for consumer in consumers:
            if command == "list":
                parked = await peek(channel, consumer, limit)
                out(f"{consumer.dlq}: {len(parked)} message(s)")
                for message in parked:
                    out(f"  {message.message_id}  {message.event_type}  {message.reason}")
            else:
                out(f"{consumer.dlq}: replayed {await replay(channel, consumer, limit)} message(s)")
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--queue", help="consumer queue name (default: all)")
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args()
    if args.command == "replay" and not args.queue:
        parser.error("replay needs --queue")
    try:
        asyncio.run(run(args.command, args.queue, args.limit))
    except UnknownQueue as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    main()
