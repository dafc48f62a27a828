"""Keys: a fresh SCRAM password per call, set in Kafka and returned once, never stored.

:class:`KeyProvisioner` is the interface; :class:`KafkaKeyProvisioner` sets the credential
through the Kafka Admin API (AlterUserScramCredentials). Amazon MSK does not take SCRAM users
from the Kafka API: it needs a Secrets Manager implementation (an ``AmazonMSK_`` secret
encrypted with a customer KMS key, associated with ``BatchAssociateScramSecret``; changes
take minutes to propagate). That backend is not implemented here.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import string
import threading
from typing import Protocol

from diaspora_notebook.fabric.service.kafka_admin import KafkaAdminBackend

log = logging.getLogger(__name__)

PASSWORD_LENGTH = 48
_ALPHABET = string.ascii_letters + string.digits
MIN_ITERATIONS = 4096   # Kafka's minimum
MAX_ITERATIONS = 16384  # Kafka's maximum


def new_password(length: int = PASSWORD_LENGTH) -> str:
    """A random alphanumeric password from the ``secrets`` module."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def next_iterations(current: int | None) -> int:
    """A PBKDF2 iteration count different from ``current``.

    Brokers only expose (mechanism, iterations) of a credential, so a changed count is how
    the service sees that every broker has the *new* credential rather than the old one.
    """
    while True:
        candidate = MIN_ITERATIONS + secrets.randbelow(MIN_ITERATIONS)
        if candidate != current:
            return candidate


class KeyProvisioner(Protocol):
    """Issues a new secret for a user, invalidating the previous one."""

    def rotate(self, user: str) -> str:
        """Set and return a fresh password for ``user``; the old one stops working."""


class KafkaKeyProvisioner:
    """:class:`KeyProvisioner` over Kafka's AlterUserScramCredentials."""

    def __init__(self, admin: KafkaAdminBackend, *, mechanism: str = "SCRAM-SHA-512",
                 propagation_seconds: float = 10.0,
                 quotas: dict[str, float] | None = None) -> None:
        self._admin = admin
        self._quotas = dict(quotas or {})
        self._mechanism = mechanism
        self._propagation = propagation_seconds
        self._locks = [threading.Lock() for _ in range(32)]

    def rotate(self, user: str) -> str:
        # one rotation per user at a time, so "the returned key works" holds for each caller
        with self._locks[hashlib.sha256(user.encode()).digest()[0] % len(self._locks)]:
            return self._rotate(user)

    def _rotate(self, user: str) -> str:
        # Kafka's user quotas before the first key works (an operator's own values are kept)
        if self._quotas and not self._admin.user_quotas(user):
            self._admin.set_user_quotas(user, dict(self._quotas))
        password = new_password()
        iterations = next_iterations(self._admin.scram_iterations(user, self._mechanism))
        self._admin.upsert_scram(user, self._mechanism, password, iterations)
        if self._propagation > 0 and not self._admin.wait_scram(
                user, self._mechanism, iterations, self._propagation):
            log.warning("new key not yet visible on every broker after %.1f s",
                        self._propagation)
        return password
