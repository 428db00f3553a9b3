"""Dead-letter queues: list what is parked and why, and replay it once the cause is fixed.

python -m ops.dlq list [--queue collection.enrollment-events]
python -m ops.dlq replay --queue collection.enrollment-events [--limit 100]
"""

from __future__ import annotations

import argparse
import asyncio

from services.common.messaging.broker import connect_broker
from services.common.messaging.dead_letters import peek, replay
from services.common.messaging.topology import CONSUMER_QUEUES
from services.common.settings import Settings


async def run(command: str, queue_name: str | None, limit: int) -> None:
    settings = Settings()
    consumers = [c for c in CONSUMER_QUEUES if queue_name in (None, c.name)]
    if not consumers:
        raise SystemExit(f"no consumer queue {queue_name!r}; known: {[c.name for c in CONSUMER_QUEUES]}")
    connection = await connect_broker(settings.broker_urls, attempts=5)
    try:
        channel = await connection.channel(publisher_confirms=True)
        for consumer in consumers:
            if command == "list":
                parked = await peek(channel, consumer, limit)
                print(f"{consumer.dlq}: {len(parked)} message(s)")
                for message in parked:
                    print(f"  {message.message_id}  {message.event_type}  {message.reason}")
            else:
                print(f"{consumer.dlq}: replayed {await replay(channel, consumer, limit)} message(s)")
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
    asyncio.run(run(args.command, args.queue, args.limit))


if __name__ == "__main__":
    main()
