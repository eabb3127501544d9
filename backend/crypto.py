"""Keys derived from the one secret, encryption at rest (PIPL) and signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# One version byte in front of every ciphertext, so the key can be rotated without guessing formats later.
_CIPHER_VERSION = b"\x01"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    """Independent sub-keys per purpose, so a leak of one use (say a token) reveals nothing of another."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("SHUXIANG_SECRET_KEY must be at least 16 characters")
        self._secret = secret.encode()
        self.token_key = self.derive("access-token")
        self._cipher = AESGCM(self.derive("field-encryption"))
        self._index_key = self.derive("blind-index")

    def derive(self, purpose: str) -> bytes:
        return hmac.new(self._secret, b"shuxiang/" + purpose.encode(), hashlib.sha256).digest()

    def encrypt(self, plaintext: str, context: str) -> bytes:
        """AES-256-GCM; `context` (e.g. "reader.phone") is bound as associated data so a value cannot be
        copied into another column and still decrypt."""
        nonce = os.urandom(12)
        return _CIPHER_VERSION + nonce + self._cipher.encrypt(nonce, plaintext.encode(), context.encode())

    def decrypt(self, blob: bytes, context: str) -> str:
        if blob[:1] != _CIPHER_VERSION:
            raise ValueError("unknown ciphertext version")
        return self._cipher.decrypt(blob[1:13], blob[13:], context.encode()).decode()

    def blind_index(self, value: str) -> str:
        """A keyed hash to look a value up (a phone number) without storing it in the clear."""
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()

    def sign(self, key: bytes, message: str) -> str:
        return b64url(hmac.new(key, message.encode(), hashlib.sha256).digest()[:16])


def token_digest(token: str) -> str:
    """Refresh tokens are stored as their SHA-256 only: a database leak does not hand out sessions."""
    return hashlib.sha256(token.encode()).hexdigest()
