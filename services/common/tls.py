"""Transport security between agencies (R35): mutual TLS with one local CA, and who a caller is.

Certificates live in one directory (`make certs` writes .make/certs; a deployment mounts a Secret):

    ca.pem                          the CA every side trusts
    server/<service>.pem, .key      a service's own certificate (SANs: localhost, 127.0.0.1, <service>)
    <kind>/<name>.pem, .key         a caller's certificate; its common name is the identity `kind:name`

A caller's identity is its certificate's common name (services/common/identity.py). With TLS off the
caller of every call is the configured local identity: nothing is authenticated on a plaintext port.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from services.common.identity import CallerKind, Identity, InvalidIdentity, parse_identity
from services.common.settings import Settings

COMMON_NAME = "x509_common_name"


@dataclass(frozen=True)
class TlsFiles:
    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    def server(self, service: str) -> tuple[Path, Path]:
        """(certificate, key) of a service."""
        return self.root / "server" / f"{service}.pem", self.root / "server" / f"{service}.key"

    def client(self, identity: Identity) -> tuple[Path, Path]:
        """(certificate, key) of a caller."""
        folder = self.root / identity.kind.value
        return folder / f"{identity.name}.pem", folder / f"{identity.name}.key"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SystemExit(f"TLS file {path} is missing: run `make certs` or set MEDINS_TLS_DIR") from None


def server_credentials(files: TlsFiles, service: str) -> grpc.ServerCredentials:
    """The service's certificate, and a client certificate signed by the CA required of every caller."""
    cert, key = files.server(service)
    return grpc.ssl_server_credentials(
        [(_read(key), _read(cert))], root_certificates=_read(files.ca), require_client_auth=True
    )


def client_credentials(files: TlsFiles, identity: Identity | None) -> grpc.ChannelCredentials:
    """Trusts the CA and presents `identity`'s certificate (None: no client certificate at all, which a
    server requiring client authentication refuses during the handshake)."""
    if identity is None:
        return grpc.ssl_channel_credentials(root_certificates=_read(files.ca))
    cert, key = files.client(identity)
    return grpc.ssl_channel_credentials(
        root_certificates=_read(files.ca), private_key=_read(key), certificate_chain=_read(cert)
    )


@functools.lru_cache(maxsize=1024)
def _identity_of_name(common_name: bytes) -> Identity | None:
    try:
        identity = parse_identity(common_name.decode("utf-8"))
    except (UnicodeDecodeError, InvalidIdentity):
        return None
    # The development identity may do everything; no certificate can claim it.
    return None if identity.kind is CallerKind.LOCAL else identity


def identity_from_auth_context(auth: Mapping[str, Iterable[bytes]]) -> Identity | None:
    """The caller named by a verified client certificate, or None (no certificate, or no identity in it)."""
    names = list(auth.get(COMMON_NAME, ()))
    return _identity_of_name(names[0]) if len(names) == 1 else None


class Callers:
    """Who is calling: the certificate's identity with TLS on, the local identity with it off."""

    def __init__(self, *, tls: bool, local: Identity, loadtest: bool = True) -> None:
        self.tls = tls
        self._local = local
        # Whether load-test callers are admitted on this system (Settings.admits_loadtest_callers).
        self.loadtest = loadtest

    @classmethod
    def from_settings(cls, settings: Settings) -> Callers:
        return cls(
            tls=settings.tls_required,
            local=parse_identity(settings.local_identity),
            loadtest=settings.admits_loadtest_callers,
        )

    def of(self, context: Any) -> Identity | None:
        """`context` is the call's grpc.aio.ServicerContext."""
        if not self.tls:
            return self._local
        return identity_from_auth_context(context.auth_context())


# Plain servers without settings (unit tests of the call policy): the development identity.
PLAINTEXT_DEVELOPMENT = Callers(tls=False, local=Identity(CallerKind.LOCAL, "development"))


@dataclass(frozen=True)
class ServerSecurity:
    """How a server listens: plaintext (credentials None) or mutual TLS, and who its callers are."""

    credentials: grpc.ServerCredentials | None
    callers: Callers

    @classmethod
    def from_settings(cls, settings: Settings, service: str) -> ServerSecurity:
        if not settings.tls_required:
            return cls(None, Callers.from_settings(settings))
        assert settings.tls_dir is not None  # Settings.check_tls
        return cls(server_credentials(TlsFiles(Path(settings.tls_dir)), service), Callers.from_settings(settings))


PLAINTEXT = ServerSecurity(None, PLAINTEXT_DEVELOPMENT)
