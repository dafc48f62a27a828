"""Turn kafka-python's "Unable to bootstrap" timeouts into errors that say what was wrong.

kafka-python reports a refused password, an untrusted certificate and a stopped broker alike:
it logs the cause and later raises ``KafkaTimeoutError``. ``diagnosed_connection`` listens to
kafka-python's own log records while a client connects and, if the connection fails, raises the
matching ``KafkaConnectionProblem`` with the fix.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from diaspora_notebook.errors import (
    BrokerUnavailableError,
    KafkaAuthenticationError,
    KafkaConnectionProblem,
    KafkaTLSError,
)

_KAFKA_LOGGER = logging.getLogger("kafka")


class _Recorder(logging.Handler):
    """Keeps the text of kafka-python's warnings and errors (they never carry passwords)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self._lock_messages = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record must not break the client it watches
            return
        with self._lock_messages:
            if len(self.messages) < 200:
                self.messages.append(text)


def classify(messages: Sequence[str], bootstrap: Sequence[str]) -> KafkaConnectionProblem:
    """The most specific problem that kafka-python's messages point to."""
    where = ", ".join(bootstrap)
    joined = "\n".join(messages)
    if "SaslAuthenticationFailed" in joined or "invalid credentials" in joined:
        return KafkaAuthenticationError(
            f"the Kafka broker at {where} rejected the username/password (SCRAM-SHA-512)",
            hint="the key was rotated or revoked: fetch the current one with "
            "Client().retrieve_key(), or make a new one with Client().create_key()",
        )
    if "CERTIFICATE_VERIFY_FAILED" in joined or "certificate verify failed" in joined:
        return KafkaTLSError(
            f"the TLS certificate of the broker at {where} is not trusted by the configured CA",
            hint="point the environment's ca_file at the fabric's tls/ca.pem (the local "
            "environment does this for you), or use system trust for a public CA",
        )
    if "WRONG_VERSION_NUMBER" in joined or "Handshake failed" in joined:
        return KafkaTLSError(
            f"the TLS handshake with {where} failed",
            hint="check that the bootstrap servers are the SASL_SSL listener",
        )
    return BrokerUnavailableError(
        f"no Kafka broker answered at {where}",
        hint="start the local fabric with `diaspora-fabric up`, or check the environment's "
        "bootstrap servers and your network",
    )


@contextmanager
def diagnosed_connection(bootstrap: Sequence[str]) -> Iterator[None]:
    """Raise a ``KafkaConnectionProblem`` in place of kafka-python's bootstrap timeouts."""
    from kafka.errors import KafkaTimeoutError

    recorder = _Recorder()
    _KAFKA_LOGGER.addHandler(recorder)
    try:
        yield
    except KafkaTimeoutError as exc:
        if "bootstrap" not in str(exc).lower():
            raise
        raise classify(recorder.messages, bootstrap) from exc
    finally:
        _KAFKA_LOGGER.removeHandler(recorder)
