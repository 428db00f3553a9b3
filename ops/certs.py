"""`make certs`: a local CA and a certificate for every service and every kind of caller (R35).

    python -m ops.certs [--dir .make/certs] [--identity kind:name ...]

Writes the layout services/common/tls.py reads: ca.pem (+ ca.key), server/<service>.{pem,key} and
<kind>/<name>.{pem,key}, whose common name is the identity `kind:name`. Existing files are kept (a CA
made again would invalidate every certificate issued under it); --identity adds more callers.
For a developer's machine and the tests; a deployment's CA and keys come from its own PKI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.collection.domain.model import Channel
from services.common.identity import CallerKind, Identity, InvalidIdentity, parse_identity
from services.common.tls import TlsFiles

DEFAULT_DIR = Path(__file__).resolve().parents[1] / ".make" / "certs"
# "callbacks": the channels' HTTPS callback endpoint (R44), a server certificate only.
SERVICES = ("registration", "enrollment", "collection", "callbacks")
# One of each kind of caller the authorization table knows, and every payment channel.
CALLERS = (
    *(Identity(CallerKind.CHANNEL, channel.value.lower()) for channel in Channel),
    Identity(CallerKind.HOSPITAL, "demo-hospital"),
    Identity(CallerKind.CITY, "340100"),
    Identity(CallerKind.TAX, "collection-desk"),
    Identity(CallerKind.REGISTRATION, "front-desk"),
    Identity(CallerKind.OFFICER, "demo-officer"),
    Identity(CallerKind.OPERATOR, "local"),
    Identity(CallerKind.LOADTEST, "bench"),
    Identity(CallerKind.PROBE, "kubelet"),
)
CA_DAYS = 3650
LEAF_DAYS = 825

Key = ec.EllipticCurvePrivateKey


def _key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if secret:
        os.chmod(path, 0o600)


def _pem_key(key: Key) -> bytes:
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return key.private_bytes(pem, pkcs8, serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "medins local"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def ensure_ca(files: TlsFiles) -> tuple[x509.Certificate, Key]:
    """The CA of `files`, made once."""
    key_path = files.root / "ca.key"
    if files.ca.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return x509.load_pem_x509_certificate(files.ca.read_bytes()), key
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("medins local CA"))
        .issuer_name(_name("medins local CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _pem_key(key), secret=True)
    _write(files.ca, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def issue(ca: tuple[x509.Certificate, Key], common_name: str, cert_path: Path, key_path: Path, *, server: bool) -> bool:
    """Writes a certificate signed by the CA unless it exists; True when written."""
    if cert_path.exists() and key_path.exists():
        return False
    ca_cert, ca_key = ca
    key = _key()
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    )
    if server:
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.DNSName(common_name),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write(key_path, _pem_key(key), secret=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return True


def make_certs(root: Path, extra: Sequence[Identity] = ()) -> list[str]:
    """Makes what is missing under `root`; returns what it wrote."""
    files = TlsFiles(root)
    ca = ensure_ca(files)
    written = []
    for service in SERVICES:
        if issue(ca, service, *files.server(service), server=True):
            written.append(f"server/{service}")
    for identity in (*CALLERS, *extra):
        if issue(ca, str(identity), *files.client(identity), server=False):
            written.append(str(identity))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.certs", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"where to write (default {DEFAULT_DIR})")
    parser.add_argument("--identity", action="append", default=[], help="another caller, as kind:name")
    args = parser.parse_args(argv)
    try:
        extra = [parse_identity(text) for text in args.identity]
    except InvalidIdentity as error:
        sys.stderr.write(f"certs: {error}\n")
        return 2
    if any(identity.kind is CallerKind.LOCAL for identity in extra):
        sys.stderr.write("certs: the local development identity is never issued a certificate\n")
        return 2
    written = make_certs(args.dir, extra)
    listed = ", ".join(written) or "all present already"
    sys.stdout.write(f"certs: {len(written)} written under {args.dir} ({listed})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
