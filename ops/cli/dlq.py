"""`medins dlq`: the dead-letter queues, through ops/dlq.py (list peeks and returns every message; replay
moves parked messages back to their queue once the cause is fixed).

    medins dlq list [--queue collection.enrollment-events]
    medins dlq replay --queue collection.enrollment-events [--limit 100]
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import aio_pika

from ops import dlq
from ops.cli.errors import EXIT_UNREACHABLE, CliError
from services.common.messaging.topology import CONSUMER_QUEUES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{list,replay}")
    listed = actions.add_parser("list", help="what is parked and why")
    replay = actions.add_parser("replay", help="move parked messages back to their queue")
    known = ", ".join(c.name for c in CONSUMER_QUEUES)
    listed.add_argument("--queue", help=f"consumer queue (default: all): {known}")
    replay.add_argument("--queue", required=True, help=f"consumer queue: {known}")
    for action in (listed, replay):
        action.add_argument("--limit", type=int, default=100, help="at most this many messages (default 100)")


def run(args: argparse.Namespace) -> int:
    # The broker client logs each failed attempt itself; the command says what matters once.
    for name in ("aio_pika", "aiormq"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        asyncio.run(dlq.run(args.action, args.queue, args.limit))
    except dlq.UnknownQueue as exc:
        raise CliError(str(exc)) from None
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
        raise CliError(
            f"cannot reach the broker (MEDINS_AMQP_URL): {type(exc).__name__}: {exc}", EXIT_UNREACHABLE
        ) from None
    return 0
