"""Refunds through the channels' own refund APIs (R23, issue 21 item 5): the refund worker's gateway
(handlers/refunds.RefundGateway) and the source of their results (RefundResults).

The refund id is the channel's idempotency key (WeChat Pay's out_refund_no, Alipay's out_request_no,
UnionPay's orderId of the 退货), so a refund sent again after a crash or a lost answer is one refund.
A channel that says no raises RefundRefused with its reason; the worker records it (FAILED, then
MANUAL_HANDLING after the last attempt), and `medins refunds list --stuck` shows it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from services.collection.domain.model import Channel, Refund
from services.collection.gateways.channel_apis.ports import ChannelApi, RefundAnswer, RefundRequest, RefundState

Targets = Callable[[Refund], Awaitable[RefundRequest]]


class RefundRefused(Exception):
    """The channel refused the refund; the message is its reason."""


class ChannelRefundGateway:
    def __init__(self, apis: Sequence[ChannelApi], targets: Targets) -> None:
        self._apis = {channel: api for api in apis for channel in api.channels}
        self._targets = targets

    def _api(self, channel: Channel) -> ChannelApi:
        api = self._apis.get(channel)
        if api is None:
            raise RefundRefused(f"no refund API is configured for {channel}")
        return api

    async def submit(self, refund: Refund) -> str:
        answer = await self._api(refund.channel).refund(refund.channel, await self._targets(refund))
        if answer.state is RefundState.REFUSED:
            raise RefundRefused(f"{refund.channel} refused the refund: {answer.detail}")
        return answer.channel_refund_id or refund.refund_id

    async def result(self, refund: Refund) -> RefundAnswer:
        return await self._api(refund.channel).query_refund(refund.channel, await self._targets(refund))

    def serves(self, channel: Channel) -> bool:
        return channel in self._apis
