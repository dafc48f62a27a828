"""Slow clients cannot stall the fabric's servers (issue 27, item 3), on the session fabric.

A few hundred connections to each of the web service and the identity provider trickle half a
request head (a byte a second, or nothing at all). Throughout, ``GET /healthz`` of both answers
within 1 s; connections over the per-address cap replace the oldest slow ones at once; every
slow connection is closed by the header timeout (the ones that sent something get a 408), and
a slowly sent body is cut off by the body timeout. Loopback only, bounded in count and time.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

import requests

from diaspora_notebook.fabric import webapps
from diaspora_notebook.fabric.fabric import Fabric
from diaspora_notebook.fabric.httpserver import ServerLimits

LIMITS = ServerLimits.from_environment()
PER_SERVER = LIMITS.max_connections_per_address + 44  # some over the cap, all on 127.0.0.1
HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@dataclass
class Slow:
    sock: socket.socket
    sent: int = 0
    closed_at: float | None = None
    answer: bytes = field(default=b"")

    def poll(self, now: float) -> None:
        """Note whether the server closed this connection (reading what it said first)."""
        if self.closed_at is not None:
            return
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.answer += data
            return
        self.closed_at = now
        self.sock.close()

    def trickle(self) -> None:
        if self.closed_at is None:
            try:
                self.sock.send(HEAD[self.sent:self.sent + 1] or b"x")
                self.sent += 1
            except OSError:
                pass


def _open(port: int, count: int, silent: int) -> list[Slow]:
    out = []
    for i in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setblocking(False)
        slow = Slow(sock)
        if i >= silent:
            slow.trickle()
        out.append(slow)
    return out


def _healthz_seconds(port: int) -> float:
    started = time.monotonic()
    response = requests.get(f"{webapps.url(port)}healthz", timeout=5)
    assert response.status_code == 200
    return time.monotonic() - started


def test_trickling_connections_never_stall_healthz(fabric: Fabric) -> None:
    state = fabric.state()
    assert state is not None
    ports = {"service": state.service_port, "identity provider": state.idp_port}
    started = time.monotonic()
    # per server: 20 connections that send nothing, the rest a byte a second
    slow = {name: _open(port, PER_SERVER, silent=20) for name, port in ports.items()}
    worst = {name: 0.0 for name in ports}
    over_cap_closed: dict[str, int] = {}
    deadline = started + LIMITS.header_timeout + 8
    next_trickle = time.monotonic() + 1
    while time.monotonic() < deadline:
        now = time.monotonic()
        for name, port in ports.items():
            worst[name] = max(worst[name], _healthz_seconds(port))
            for conn in slow[name]:
                conn.poll(now)
            if name not in over_cap_closed and now - started > 2:
                over_cap_closed[name] = sum(c.closed_at is not None for c in slow[name])
        if now >= next_trickle:
            next_trickle = now + 1
            for conns in slow.values():
                for conn in conns:
                    conn.trickle()
        if all(c.closed_at is not None for conns in slow.values() for c in conns):
            break
        time.sleep(0.2)
    for name in ports:
        assert worst[name] < 1.0, f"{name}: /healthz took {worst[name]:.2f} s"
        # beyond the per-address cap, the oldest slow connections were replaced at once
        assert over_cap_closed[name] >= PER_SERVER - LIMITS.max_connections_per_address, (
            name, over_cap_closed[name])
        still_open = [c for c in slow[name] if c.closed_at is None]
        assert not still_open, f"{name}: {len(still_open)} slow connections still open"
        late = [c.closed_at - started for c in slow[name] if c.closed_at is not None
                and c.closed_at - started > LIMITS.header_timeout + 5]
        assert not late, f"{name}: closed only after {max(late):.1f} s"
        timed_out = [c for c in slow[name] if c.answer.startswith(b"HTTP/1.1 408")]
        assert timed_out, f"{name}: no slow request was answered 408"
        assert not any(c.answer and not c.answer.startswith(b"HTTP/1.1 408")
                       for c in slow[name])  # a half-sent request is never served


def test_a_slowly_sent_body_is_cut_off(fabric: Fabric) -> None:
    state = fabric.state()
    assert state is not None
    ports = (state.service_port, state.idp_port)
    socks = {}
    for port in ports:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"POST /v2/oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 1000\r\n\r\ngrant_type=")
        sock.setblocking(False)
        socks[port] = Slow(sock)
    started = time.monotonic()
    while time.monotonic() - started < LIMITS.body_timeout + 5:
        now = time.monotonic()
        for conn in socks.values():
            conn.poll(now)
            if conn.closed_at is None:
                try:
                    conn.sock.send(b"x")  # a byte a second: the head was fine, the body is slow
                except OSError:
                    conn.poll(now)
        if all(c.closed_at is not None for c in socks.values()):
            break
        time.sleep(1)
    for port, conn in socks.items():
        assert conn.closed_at is not None, f"port {port}: a slow body was never cut off"
        assert conn.closed_at - started >= LIMITS.body_timeout - 1
        assert _healthz_seconds(port) < 1.0
