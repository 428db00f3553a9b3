"""The e-tax bureau and the family mutual-aid account: our own format (formats.native's JSON),
signed under that channel's own key (services/collection/channels/own_format.py)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from services.collection.channels import own_format
from services.common.clock import CST

Callback = tuple[dict[str, str], bytes]


@dataclass(frozen=True)
class OwnFormatSimulator:
    key_id: str
    key: bytes
    holder_id_number: str = ""  # the family account's holder, for that channel only

    def build_callback(self, order_id: str, amount_fen: int, transaction_id: str, paid_at: dt.datetime) -> Callback:
        document: dict[str, object] = {
            "order_id": order_id,
            "transaction_id": transaction_id,
            "amount_fen": amount_fen,
            "paid_at": paid_at.astimezone(CST).isoformat(),
        }
        if self.holder_id_number:
            document["holder_id_number"] = self.holder_id_number
        body = json.dumps(document).encode()
        headers = {"Content-Type": "application/json", "Medins-Signature": own_format.sign(self.key_id, self.key, body)}
        return headers, body
