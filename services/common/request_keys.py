"""What a mutating call is remembered by (AIP-155, R21, R35); pure, so the domain may name it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestKey:
    """What a mutating call is remembered by: its caller (R35: request ids are scoped to the caller),
    method and request id, and the fingerprint that tells a retry (same request) from a reuse of the id
    for another request."""

    caller: str
    method: str
    request_id: str
    fingerprint: bytes
