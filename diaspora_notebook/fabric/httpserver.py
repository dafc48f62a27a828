"""How the fabric's HTTP servers (the identity provider and the web service) run: uvicorn with
read timeouts and connection caps that uvicorn alone does not have.

uvicorn's h11 protocol closes an idle keep-alive connection, but waits forever for a request
that arrives slowly: a client that sends half a request line, or one header byte a second,
holds a connection (and a file descriptor) for as long as it likes, and enough of them take a
server to its open-file limit. :func:`serve` runs uvicorn with :class:`GuardedH11Protocol`,
which adds:

* a **header timeout**: a request's head (request line and headers) must be complete within
  ``header_timeout`` seconds of the connection opening or of its first byte after a previous
  response; sending slowly does not extend it. Then ``408`` and the connection is closed;
* a **body timeout**: the body must be complete within ``body_timeout`` seconds of the head;
* **keep-alive limits**: an idle connection closes after ``keep_alive_timeout`` seconds
  (uvicorn's own timer), and a connection serves at most ``max_requests_per_connection``
  requests (the last one answers ``Connection: close``);
* **connection caps** per client address and in total. A new connection over a cap takes the
  place of the OLDEST connection of that address (or of any address, for the total) that is
  not being answered (idle, or still sending its request); only when every one is being
  answered is the new one refused. On 127.0.0.1 every local account shares one address, so a
  plain refusal would let one account lock all others out; replacing the stalest connection
  keeps the server answering anyone whose request arrives promptly.

The time an application takes to answer is not limited here. Limits come from
``DIASPORA_FABRIC_HTTP_*`` variables (:meth:`ServerLimits.from_environment`), which
``diaspora-fabric up`` passes on to both servers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.flow_control import CLOSE_HEADER
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

ENV_PREFIX = "DIASPORA_FABRIC_HTTP_"
# file descriptors a server needs besides its client connections (logs, SQLite, Kafka, sockets)
RESERVED_FILES = 256
_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\n"
                     b"content-type: text/plain; charset=utf-8\r\n"
                     b"connection: close\r\ncontent-length: 31\r\n\r\n"
                     b"the request was sent too slowly")


@dataclass(frozen=True)
class ServerLimits:
    """Read timeouts and connection caps of one server (see the module docstring)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: int = 5
    max_requests_per_connection: int = 1000
    max_connections_per_address: int = 256
    max_connections: int = 2048
    max_header_bytes: int = 16 * 1024

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ServerLimits:
        """Defaults overridden by ``DIASPORA_FABRIC_HTTP_<FIELD>`` (e.g. ``..._HEADER_TIMEOUT``).

        :raises ValueError: a value that is not a positive number
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = env.get(ENV_PREFIX + item.name.upper(), "").strip()
            if not raw:
                continue
            kind = int if isinstance(getattr(cls, item.name), int) else float
            try:
                value = kind(raw)
            except ValueError:
                value = 0
            if value <= 0:
                raise ValueError(f"{ENV_PREFIX}{item.name.upper()} must be a positive "
                                 f"{'whole ' if kind is int else ''}number, not {raw!r}")
            values[item.name] = value
        return cls(**values)

    def fitted_to_open_files(self) -> ServerLimits:
        """Raise this process's soft open-file limit to what the caps need (up to the hard
        limit); lower the caps when even the hard limit is too small, and say so."""
        needed = self.max_connections + RESERVED_FILES
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        ceiling = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        if soft != resource.RLIM_INFINITY and soft < ceiling:
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
            soft = ceiling
        if soft == resource.RLIM_INFINITY or soft >= needed:
            return self
        total = max(16, int(soft) - RESERVED_FILES)
        log.warning("the open-file limit (%d) allows only %d connections; lowering the cap "
                    "from %d (raise `ulimit -n` to %d for the full cap)", soft, total,
                    self.max_connections, needed)
        return replace(self, max_connections=total,
                       max_connections_per_address=min(self.max_connections_per_address, total))


class _Registry:
    """Open connections of one server, oldest first, in total and per client address."""

    def __init__(self) -> None:
        self.all: dict[GuardedH11Protocol, None] = {}
        self.by_address: dict[str, dict[GuardedH11Protocol, None]] = {}
        self.refused = 0
        self.replaced = 0
        self._last_warning = 0.0

    def admit(self, conn: GuardedH11Protocol, limits: ServerLimits) -> bool:
        """Register ``conn``, making room by closing the stalest idle connection if needed."""
        mine = self.by_address.setdefault(conn.address, {})
        for group, cap in ((mine, limits.max_connections_per_address),
                           (self.all, limits.max_connections)):
            if len(group) >= cap:
                victim = next((c for c in group if c.replaceable()), None)
                if victim is None:
                    self.refused += 1
                    self._warn(conn.address, "refused a connection")
                    return False
                self.replaced += 1
                self._warn(conn.address, "closed the oldest idle or slow connection")
                victim.drop()
        mine[conn] = None
        self.all[conn] = None
        return True

    def forget(self, conn: GuardedH11Protocol) -> None:
        self.all.pop(conn, None)
        mine = self.by_address.get(conn.address)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self.by_address[conn.address]

    def _warn(self, address: str, what: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= 10:  # a flood must not flood the log
            self._last_warning = now
            log.warning("connection cap reached (%d open, %d from %s): %s (so far %d replaced, "
                        "%d refused)", len(self.all), len(self.by_address.get(address, ())),
                        address, what, self.replaced, self.refused)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with read deadlines and connection caps (module docstring).

    Use :func:`guarded_protocol` to get a subclass bound to one server's limits.
    """

    limits: ClassVar[ServerLimits] = ServerLimits()
    registry: ClassVar[_Registry]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.address = self.client[0] if self.client else "unknown"
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: str | None = None
        self._requests = 0
        self._partial = False
        self._last_cycle: object = None
        self._admitted = self.registry.admit(self, self.limits)
        if not self._admitted:
            transport.abort()
            return
        # the first request's head is due header_timeout after the connection opened
        self._arm("headers", self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self.registry.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._partial = bool(data) and self.conn.their_state is h11.IDLE
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._partial = False
        self._track()

    # -- what state is the request in -------------------------------------------------------

    def _track(self) -> None:
        if self.transport.is_closing():
            self._cancel()
            return
        if self.cycle is not None and self.cycle is not self._last_cycle:
            self._last_cycle = self.cycle
            self._requests += 1
            if self._requests >= self.limits.max_requests_per_connection:
                # the last response: uvicorn closes after it, and says so when the request
                # carries Connection: close
                self.cycle.keep_alive = False
                headers = self.cycle.scope["headers"]
                if isinstance(headers, list) and CLOSE_HEADER not in headers:
                    headers.append(CLOSE_HEADER)
        state = self.conn.their_state
        if state is h11.IDLE:
            # waiting for a request: uvicorn's keep-alive timer runs until a byte arrives; from
            # then on (or from the connection's start) the whole head is due in header_timeout
            if self._phase != "headers" and self.timeout_keep_alive_task is None:
                self._arm("headers", self.limits.header_timeout)
        elif state is h11.SEND_BODY:
            if self._phase != "body":
                self._arm("body", self.limits.body_timeout)
        else:  # the request is complete (being answered) or the connection is closing
            self._cancel()

    def replaceable(self) -> bool:
        """Idle or still sending its request (nothing of ours is being computed for it)."""
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def drop(self) -> None:
        """Close now (a connection replaced by a newer one, or past its deadline)."""
        self._cancel()
        if self._partial and self.conn.their_state is h11.IDLE:
            # half a request head and no answer yet: say why (never on an idle keep-alive
            # connection, whose client would take it for the answer to its next request)
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()
        self.registry.forget(self)

    # -- deadlines ----------------------------------------------------------------------------

    def _arm(self, phase: str, seconds: float) -> None:
        self._cancel()
        self._phase = phase
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = None

    def _expired(self) -> None:
        phase = self._phase
        self._deadline = None
        if self.transport.is_closing():
            return
        log.debug("closing a connection from %s: its request %s took too long", self.address,
                  "head" if phase == "headers" else "body")
        self.drop()


def guarded_protocol(limits: ServerLimits) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass with its own limits and connection registry."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"limits": limits, "registry": _Registry()})


def serve(app: Any, *, host: str, port: int, limits: ServerLimits | None = None,
          **uvicorn_options: Any) -> None:
    """Run ``app`` with uvicorn on ``host:port`` under ``limits`` until SIGTERM/SIGINT."""
    import uvicorn

    fitted = (limits or ServerLimits.from_environment()).fitted_to_open_files()
    config = uvicorn.Config(
        app, host=host, port=port, http=guarded_protocol(fitted),
        timeout_keep_alive=fitted.keep_alive_timeout,
        h11_max_incomplete_event_size=fitted.max_header_bytes,
        server_header=False, **uvicorn_options)
    uvicorn.Server(config).run()
