"""The RSA key that signs id_tokens, persisted so that tokens survive an IdP restart.

globus-sdk caches the JWK per app and only ever reads ``keys[0]`` (reference §2, §6.6): a key
that changed under a running notebook breaks its next login with ``InvalidSignatureError``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from diaspora_notebook.fabric.errors import FabricHomeError
from diaspora_notebook.fabric.home import write_private

log = logging.getLogger(__name__)

ALGORITHM = "RS512"


class SigningKey:
    """An RSA private key plus its public JWK; load or create with :meth:`load_or_create`."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._key = private_key
        numbers = private_key.public_key().public_numbers()
        self._n = _b64uint(numbers.n)
        self._e = _b64uint(numbers.e)
        # RFC 7638 thumbprint: stable across restarts, so it doubles as the kid
        canonical = f'{{"e":"{self._e}","kty":"RSA","n":"{self._n}"}}'.encode()
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).decode().rstrip("=")

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Read the PEM at ``path``, or create a 2048-bit key there with mode 0600."""
        if path.exists():
            try:
                loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except ValueError as exc:
                raise FabricHomeError(
                    f"the IdP signing key {path} is not a valid PEM private key",
                    hint="move it aside; a new key is created at the next start "
                    "(users must log in again)",
                ) from exc
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise FabricHomeError(f"the IdP signing key {path} is not an RSA key")
            if os.stat(path).st_mode & 0o077:
                log.warning("tightening permissions of %s to 0600", path)
                os.chmod(path, 0o600)
            return cls(loaded)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(path, pem)
        log.info("created a new id_token signing key at %s", path)
        return cls(key)

    def jwks(self) -> dict[str, Any]:
        """The ``/jwk.json`` document; the SDK uses ``keys[0]``."""
        return {
            "keys": [
                {"kty": "RSA", "alg": ALGORITHM, "use": "sig", "kid": self.kid,
                 "n": self._n, "e": self._e}
            ]
        }

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims`` (RS512, ``kid`` in the header)."""
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()


def at_hash(access_token: str) -> str:
    """OIDC ``at_hash``: left half of the SHA-512 (matching RS512) of the token, base64url."""
    digest = hashlib.sha512(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).decode().rstrip("=")


def _b64uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
