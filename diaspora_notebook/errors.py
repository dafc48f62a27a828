"""One error tree for the whole package, toolkit and fabric alike.

Every error says what went wrong (``str(err)``) and, in ``hint``, what to do about it.
Magics and the CLI print ``Name: message - hint`` without a traceback.
"""

from __future__ import annotations


class DiasporaError(Exception):
    """Root of every error this package raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def one_line(self) -> str:
        """``Name: what happened - what to do``, for magics and the CLI."""
        text = f"{type(self).__name__}: {self.message}"
        return f"{text} - {self.hint}" if self.hint else text


class DiasporaUsageError(DiasporaError, ValueError):
    """The caller passed something invalid; nothing was sent anywhere."""


class FabricError(DiasporaError):
    """The local fabric (broker, identity provider, web service) could not do what was asked."""


class FabricNotInstalledError(FabricError):
    """The Kafka jars are not in the cache yet."""


class PrerequisiteMissingError(FabricError):
    """A program the fabric needs (java, mvn) is not on PATH."""


class FabricStartError(FabricError):
    """A fabric process exited or did not become ready in time."""


class FabricHomeError(FabricError):
    """The fabric home is unreadable, half-written or inconsistent."""


class PortInUseError(FabricError):
    """A port the fabric is configured to use is taken by another program."""


class KafkaConnectionProblem(DiasporaError):
    """A Kafka client could not get a working connection to the brokers."""


class KafkaAuthenticationError(KafkaConnectionProblem):
    """The broker rejected the SCRAM username or password."""


class KafkaTLSError(KafkaConnectionProblem):
    """The broker's certificate was not trusted (wrong CA, or not a TLS port)."""


class BrokerUnavailableError(KafkaConnectionProblem):
    """No broker answered at the bootstrap addresses."""
