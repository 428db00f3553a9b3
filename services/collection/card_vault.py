"""Card numbers at rest (R27): AES-GCM under a named key, bound to the agreement they belong to.

The stored value is nonce (12 bytes) + ciphertext-and-tag; the key id is stored beside it, so a new key
can be made current while rows encrypted under older keys are still read (and re-encrypted by
`reencrypt`). The agreement id is the associated data: a ciphertext copied onto another agreement does
not decrypt."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.collection.domain.agreements import EncryptedCard

NONCE_BYTES = 12


class CardKeyError(Exception):
    """The key needed for a stored card is not configured, or the ciphertext does not authenticate."""


def parse_keys(text: str) -> dict[str, bytes]:
    """ "id:base64,id:base64" → {id: 32-byte key}. A malformed entry is a configuration error."""
    keys: dict[str, bytes] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id:
            raise CardKeyError("card key entries look like id:base64")
        key = base64.b64decode(encoded, validate=True)
        if len(key) not in (16, 24, 32):
            raise CardKeyError(f"card key {key_id} must be 16, 24 or 32 bytes")
        keys[key_id] = key
    return keys


class CardVault:
    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        if current_key_id not in keys:
            raise CardKeyError(f"the current card key {current_key_id} is not among the configured keys")
        self._keys = dict(keys)
        self._current = current_key_id

    @classmethod
    def from_settings(cls, keys_text: str, current_key_id: str) -> CardVault:
        return cls(parse_keys(keys_text), current_key_id)

    @property
    def current_key_id(self) -> str:
        return self._current

    def encrypt(self, card_number: str, agreement_id: str) -> EncryptedCard:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._keys[self._current]).encrypt(nonce, card_number.encode(), agreement_id.encode())
        return EncryptedCard(self._current, nonce + sealed, card_number[-4:])

    def decrypt(self, key_id: str, ciphertext: bytes, agreement_id: str) -> str:
        key = self._keys.get(key_id)
        if key is None:
            raise CardKeyError(f"card key {key_id} is not configured")
        try:
            plain = AESGCM(key).decrypt(ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], agreement_id.encode())
        except InvalidTag:
            raise CardKeyError("a stored card does not authenticate under its key") from None
        return plain.decode()

    def blind(self, card_number: str) -> str:
        """A keyed digest standing in for the card where a request is fingerprinted (request ids, R21):
        a plain hash of a card number is reversed by trying every number, a keyed one is not."""
        key = hmac.new(self._keys[self._current], b"card-fingerprint", hashlib.sha256).digest()
        return hmac.new(key, card_number.encode(), hashlib.sha256).hexdigest()

    def reencrypt(self, key_id: str, ciphertext: bytes, agreement_id: str) -> EncryptedCard | None:
        """The card under the current key, or None when it already is."""
        if key_id == self._current:
            return None
        return self.encrypt(self.decrypt(key_id, ciphertext, agreement_id), agreement_id)
