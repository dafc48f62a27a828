"""Password KDF and token digests.

Passwords are low-entropy, so they go through scrypt with a per-user salt. Tokens, codes and
client secrets are 256-bit random values, for which a plain SHA-256 digest is enough: the
database never holds a usable credential, and lookups stay indexable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 16
_DUMMY: list[str] = []


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64), so the parameters can change later."""
    salt = secrets.token_bytes(_SALT_BYTES)
    derived = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return "$".join(
        ["scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(derived)]
    )


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check; with ``stored=None`` (unknown user) it still spends the KDF time."""
    if stored is None:
        verify_password(password, _dummy_hash())
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8", "surrogatepass"),
            salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def digest(value: str) -> str:
    """SHA-256 hex of a token, code or client secret: what the database stores and looks up."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def new_token(prefix: str) -> str:
    """An opaque bearer value like ``AT.<43 url-safe chars>``."""
    return f"{prefix}.{secrets.token_urlsafe(32)}"


def secret_matches(value: str, stored_digest: str | None) -> bool:
    """Constant-time comparison of ``value`` against a stored SHA-256 digest."""
    if stored_digest is None:
        return False
    return hmac.compare_digest(digest(value), stored_digest)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_hex(8)))
    return _DUMMY[0]
