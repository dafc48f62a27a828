"""The fabric's own error tree (it imports nothing of the toolkit but the shared naming rules).

Every error says what went wrong (``str(err)``) and, in ``hint``, what to do about it; the
``diaspora-fabric`` CLI prints ``Name: message - hint`` without a traceback. The service's
HTTP errors (:class:`~diaspora_notebook.fabric.service.errors.ServiceError`) are fabric errors
too.
"""

from __future__ import annotations


class FabricError(Exception):
    """Root of every error the fabric raises on purpose: the local fabric (broker, identity
    provider, web service) could not do what was asked."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def one_line(self) -> str:
        """``Name: what happened - what to do``, for the CLI."""
        text = f"{type(self).__name__}: {self.message}"
        return f"{text} - {self.hint}" if self.hint else text


class FabricUsageError(FabricError, ValueError):
    """The caller passed something invalid (an option, a name, a setting); nothing was done."""


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
