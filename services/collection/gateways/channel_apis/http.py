"""The HTTP transport the channel API clients share: one aiohttp session, a deadline on every call, and
no answer (a timeout, a reset, a lost reply) as ChannelApiError, never as a decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from services.collection.gateways.channel_apis.ports import ChannelApiError

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport:
    def __init__(self, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def call(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None) -> Reply:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.request(method, url, headers=dict(headers), data=body) as response:
                return Reply(response.status, {k: v for k, v in response.headers.items()}, await response.read())
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ChannelApiError(f"{method} {url}: no answer ({type(error).__name__})") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
