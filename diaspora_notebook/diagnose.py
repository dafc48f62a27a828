"""Turn kafka-python's "Unable to bootstrap" timeouts into errors that say what was wrong.

kafka-python reports a refused password, an untrusted certificate and a stopped broker alike:
it logs the cause and later raises ``KafkaTimeoutError``. ``diagnosed_connection`` listens to
kafka-python's own log records while a client connects and, if the connection fails, raises the
matching ``KafkaConnectionProblem`` with the fix. When the records are ambiguous (the broker
may close the socket before kafka-python reads its SaslAuthenticate error), a TLS probe of the
first broker settles it: a handshake that verifies against the configured CA means the network
and TLS are fine, so the SCRAM login is what failed.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from diaspora_notebook.errors import (
    BrokerUnavailableError,
    KafkaAuthenticationError,
    KafkaConnectionProblem,
    KafkaTLSError,
)

_KAFKA_LOGGER = logging.getLogger("kafka")
PROBE_TIMEOUT = 3.0


class _Recorder(logging.Handler):
    """Keeps the text of kafka-python's warnings and errors (they never carry passwords)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record must not break the client it watches
            return
        with self._guard:
            if len(self.messages) < 200:
                self.messages.append(text)


def _auth_error(where: str) -> KafkaAuthenticationError:
    return KafkaAuthenticationError(
        f"the Kafka broker at {where} rejected the username/password (SCRAM-SHA-512)",
        hint="the key was rotated or revoked (perhaps by create_key on another machine; "
        "retrieve_key() returns this machine's cached copy): make a new one here with "
        "Client().create_key()",
    )


def _untrusted(where: str) -> KafkaTLSError:
    return KafkaTLSError(
        f"the TLS certificate of the broker at {where} is not trusted by the configured CA",
        hint="point the environment's ca_file at the fabric's tls/ca.pem (the local "
        "environment does this for you), or use system trust for a public CA",
    )


def _unavailable(where: str) -> BrokerUnavailableError:
    return BrokerUnavailableError(
        f"no Kafka broker answered at {where}",
        hint="start the local fabric with `diaspora-fabric up`, or check the environment's "
        "bootstrap servers and your network",
    )


def probe_tls(server: str, cafile: str | None, timeout: float = PROBE_TIMEOUT) -> str:
    """``refused``, ``untrusted``, ``not-tls`` or ``ok``: what a verified TLS handshake meets."""
    host, _, port = server.rpartition(":")
    context = ssl.create_default_context(cafile=cafile) if cafile else \
        ssl.create_default_context()
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host):
            return "ok"
    except ssl.SSLCertVerificationError:
        return "untrusted"
    except ssl.SSLError:
        return "not-tls"
    except (OSError, ValueError):
        return "refused"


def classify(messages: Sequence[str], config: Mapping[str, Any]) -> KafkaConnectionProblem:
    """The most specific problem that kafka-python's messages (and a probe) point to."""
    servers = _servers(config)
    where = ", ".join(servers)
    joined = "\n".join(messages)
    if "SaslAuthenticationFailed" in joined or "invalid credentials" in joined:
        return _auth_error(where)
    if "CERTIFICATE_VERIFY_FAILED" in joined or "certificate verify failed" in joined:
        return _untrusted(where)
    if not servers:
        return _unavailable(where)
    outcome = probe_tls(servers[0], config.get("ssl_cafile"))
    uses_tls = str(config.get("security_protocol", "PLAINTEXT")).endswith("SSL")
    if outcome == "refused":
        return _unavailable(where)
    if not uses_tls and outcome in ("ok", "untrusted"):
        return KafkaTLSError(
            f"the broker at {where} speaks TLS but the client was configured for "
            f"{config.get('security_protocol', 'PLAINTEXT')}",
            hint="use security_protocol='SASL_SSL' with sasl_mechanism='SCRAM-SHA-512' "
            "(Client().connection_config() gives the whole set)",
        )
    if outcome == "untrusted":
        return _untrusted(where)
    if outcome == "ok" and config.get("sasl_mechanism"):
        # TLS verified and the broker still hung up: it was the SCRAM login
        return _auth_error(where)
    if outcome == "not-tls" and uses_tls:
        return KafkaTLSError(f"the TLS handshake with {where} failed",
                             hint="check that the bootstrap servers are the SASL_SSL listener")
    return _unavailable(where)


def _servers(config: Mapping[str, Any]) -> list[str]:
    servers = config.get("bootstrap_servers", [])
    return [servers] if isinstance(servers, str) else list(servers)


@contextmanager
def diagnosed_connection(config: Mapping[str, Any]) -> Iterator[None]:
    """Raise a ``KafkaConnectionProblem`` in place of kafka-python's bootstrap timeouts.

    ``config`` is the kafka-python configuration being used: the diagnosis needs its security
    protocol and CA file, not only the servers.
    """
    from kafka.errors import KafkaTimeoutError

    recorder = _Recorder()
    _KAFKA_LOGGER.addHandler(recorder)
    try:
        yield
    except KafkaTimeoutError as exc:
        if "bootstrap" not in str(exc).lower():
            raise
        raise classify(recorder.messages, config) from exc
    finally:
        _KAFKA_LOGGER.removeHandler(recorder)
