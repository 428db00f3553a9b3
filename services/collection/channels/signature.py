"""The intake's port for believing a channel (R42): a channel's raw notification, headers and body
exactly as received, verified with that channel's own scheme and keys and read into its payment.

ChannelVerifiers (verifiers.py) is the implementation; it raises the refusals of refusals.py (and
formats.malformed), which the intake records with their reasons (R21b). No secret is shared between
channels: each one's keys are its own (keys.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from services.collection.domain.model import Channel
from services.collection.domain.payments import ChannelPayment


class NotificationVerifier(Protocol):
    def verify(
        self, channel: Channel, headers: Mapping[str, str], body: bytes, *, call: str | None = None
    ) -> ChannelPayment:
        """`call` names one caller's request (its identity and request id): that request tried again
        is not a replay of the channel's message."""
        ...
