"""How every client of this system (the operator CLI, the load tool, the tests) opens a channel to a
service. One place, so that transport security (R35, mTLS with a caller identity) is decided once:
without `security` a channel is plaintext; with it, it trusts the local CA and presents the caller's
certificate (its identity, e.g. `operator:local`, is what the server authorizes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from services.common.identity import Identity, parse_identity
from services.common.settings import Settings
from services.common.tls import TlsFiles, client_credentials

ChannelOptions = Sequence[tuple[str, int | str]]


@dataclass(frozen=True)
class ChannelSecurity:
    """TLS towards the services, presenting `identity`'s certificate (None: no client certificate)."""

    files: TlsFiles
    identity: Identity | None

    @classmethod
    def from_settings(cls, settings: Settings, identity: Identity | str | None = None) -> ChannelSecurity | None:
        """None (plaintext) unless MEDINS_TLS_REQUIRED; the identity defaults to MEDINS_TLS_IDENTITY."""
        if not settings.tls_required or settings.tls_dir is None:
            return None
        chosen = parse_identity(identity or settings.tls_identity) if not isinstance(identity, Identity) else identity
        return cls(TlsFiles(Path(settings.tls_dir)), chosen)

    def credentials(self) -> grpc.ChannelCredentials:
        return client_credentials(self.files, self.identity)


def channel(address: str, *, options: ChannelOptions = (), security: ChannelSecurity | None = None) -> grpc.Channel:
    """A blocking channel to `address`."""
    if security is None:
        return grpc.insecure_channel(address, options=list(options))
    return grpc.secure_channel(address, security.credentials(), options=list(options))


def aio_channel(
    address: str,
    *,
    options: ChannelOptions = (),
    security: ChannelSecurity | None = None,
    interceptors: Sequence[Any] = (),  # grpc.aio client interceptors
) -> grpc.aio.Channel:
    """An asyncio channel to `address` (through `interceptors`, e.g. ops/cli/retrying.py's)."""
    if security is None:
        return grpc.aio.insecure_channel(address, options=list(options), interceptors=list(interceptors) or None)
    return grpc.aio.secure_channel(
        address, security.credentials(), options=list(options), interceptors=list(interceptors) or None
    )
