"""Keys and certificates for the channel simulators (development and tests only): RSA 2048 keys, a
root and an intermediate CA per gateway, and signing certificates named as UnionPay names its own
(CN "<type>@<id>@<signer>@<n>"). A deployment's keys come from the channels themselves."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

Issued = tuple[x509.Certificate, rsa.RSAPrivateKey]
CA_DAYS = 3650
LEAF_DAYS = 825


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "medins channel simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def certificate(
    common_name: str,
    issuer: Issued | None,
    *,
    ca: bool,
    now: dt.datetime | None = None,
    days: int | None = None,
    key: rsa.RSAPrivateKey | None = None,
) -> Issued:
    """A certificate for a new key (or `key`) signed by `issuer` (None: self-signed)."""
    key = key or rsa_key()
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)
    signer_cert, signer_key = issuer if issuer else (None, key)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(signer_cert.subject if signer_cert else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days or (CA_DAYS if ca else LEAF_DAYS)))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer_key, hashes.SHA256())
    )
    return cert, key


def gateway_chain(
    label: str, signer: str, now: dt.datetime | None = None, days: int | None = None
) -> tuple[Issued, Issued, Issued]:
    """Root, intermediate and signing certificate of one gateway; the signing certificate's CN names
    `signer` in its third '@' field, as UnionPay's do."""
    root = certificate(f"{label} root CA", None, ca=True, now=now, days=days)
    middle = certificate(f"{label} intermediate CA", root, ca=True, now=now, days=days)
    leaf = certificate(f"041@Zsim@{signer}@00000001", middle, ca=False, now=now, days=days)
    return root, middle, leaf


def pem_certificate(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_private(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_public(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key
