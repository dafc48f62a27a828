"""The REST source (``engine="rest"``): records through the v3 service's consumer REST API.

For networks where the Kafka ports are closed (Binder allows HTTPS only): every read is an
HTTPS request to the web service (``/api/v2/consumers/...``, Confluent REST Proxy v2 paths and
bodies, what diaspora-event-sdk 0.5.1's ``RESTConsumer`` speaks) with the Globus login alone,
no Kafka key. ``pick_engine("auto", client=...)`` picks it for a v3 client whose brokers do not
answer.

What the API gives, and so what this engine can do:

* one consumer instance per source, in the ``binary`` format (keys and values come back as
  base64 and are handed over as bytes);
* consumer groups: the service names a group ``<namespace>.<group>`` and allows only
  ``a-z A-Z 0-9 . _ -`` in ``<group>``, so a toolkit group ``<topic>/<name>`` is sent as
  ``<topic>.<name>``; the Kafka engines name v3 groups by the same rule
  (:func:`~.source.v3_group`), so one toolkit group is one Kafka group,
  ``<namespace>.<topic>.<name>``, whichever engine reads;
* topics of your own namespace only (the service adds it), named without it;
* no timestamps in fetched records (``timestamp`` is -1) and no offsets-for-times, so a time
  ``start=`` (a datetime, ``"-5m"``, milliseconds) needs a Kafka engine (a usage error says so);
  a live stream's ``"latest"`` starts at the end offsets when it connects;
* no watermark route and no position route: the only way to learn where a partition ends is to
  seek there, commit, and read the committed offset back. :meth:`RestSource.watermarks` does
  that with a short-lived second instance in a group of its own, one per process
  (``dnb-watermarks-<12 hex>``, never a group anyone reads with), so the probes of one kernel
  leave one group's commits behind, not one group per probe (Kafka expires them with the
  broker's offsets retention);
* an instance idle for 5 minutes is dropped by the service: the source re-creates it and
  replays its assignment and positions, as the SDK's ``RESTConsumer`` recovers.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.kafka.errors import UNKNOWN_TOPIC, SourceError
from diaspora_notebook.kafka.source import TP, OnAssign, RawBatch, v3_group

#: bytes of keys and values one fetch may return (the service returns at most 500 records)
FETCH_MAX_BYTES = 8 * 1024 * 1024
#: the longest wait the service allows for one fetch
MAX_FETCH_MS = 30_000
INSTANCE_GONE = 40403
NOT_ASSIGNED = 40903
READER_GROUP = "dnb-reader"
#: the group of this process's watermark probes (their commits land there and nowhere else)
PROBE_GROUP = f"dnb-watermarks-{uuid.uuid4().hex[:12]}"
_probe_lock = threading.Lock()  # one probe at a time: they share PROBE_GROUP's commits
TIME_START_NEEDS_KAFKA = (
    "records read over the consumer REST API (engine='rest') carry no timestamps, and the API "
    "cannot look up offsets by time, so a time start (a datetime, '-5m', milliseconds) needs a "
    "Kafka engine")


def _b64(data: Any) -> bytes | None:
    return None if data is None else base64.b64decode(data)


class RestSource:
    """The v3 consumer REST API as a :class:`~.source.Source` (``config={"client": Client}``)."""

    name = "rest"
    #: records carry no timestamps and offsets cannot be looked up by time
    by_time = False

    def __init__(self, config: dict[str, Any], *, group_id: str | None,
                 auto_offset_reset: str = "latest", topics: Sequence[str] = (),
                 headers: bool = False) -> None:
        client = config.get("client")
        if client is None or getattr(client, "api", None) != "v3":
            raise DiasporaUsageError("the rest engine reads {'client': <a v3 Client>}",
                                     hint="Client(environment='local-v3') or 'diaspora'")
        self.client = client
        self.web = client.v3_web()
        self.prefix = client.namespace + "."
        # the service adds "<namespace>." (a name given with it is taken without it) and allows
        # a-z A-Z 0-9 . _ - only: "<topic>/<name>" is sent as "<topic>.<name>", the group the
        # Kafka engines use too
        if group_id:
            own = group_id[len(self.prefix):] if group_id.startswith(self.prefix) else group_id
            self.group = v3_group(own)
        else:
            self.group = f"{READER_GROUP}-{uuid.uuid4().hex[:12]}"
        self._group_mode = group_id is not None
        self._settings = {"format": "binary", "auto.offset.reset": auto_offset_reset,
                          "auto.commit.enable": "false"}
        self._headers = headers
        self._given: dict[str, str] = {}  # short name -> the name the caller used
        self._assigned: list[TP] = []
        self._subscribed: list[str] = []
        self._on_assign: OnAssign | None = None
        self._positions: dict[TP, int] = {}
        self._paused: set[TP] = set()
        self._buffer: list[dict[str, Any]] = []
        self._highwater: dict[TP, int] = {}
        self.instance = self._create(self.group, self._settings)
        self.requests = 0  #: HTTP requests made (benchmarks)

    # --- names and requests --------------------------------------------------------------

    def _short(self, topic: str) -> str:
        short = topic[len(self.prefix):] if topic.startswith(self.prefix) else topic
        self._given.setdefault(short, topic)
        return short

    def _back(self, short: str) -> str:
        return self._given.get(short, short)

    def _parts(self, tps: Iterable[TP]) -> list[dict[str, Any]]:
        return [{"topic": self._short(t), "partition": p} for t, p in tps]

    def _call(self, fn: Callable[[], Any], *, recover: bool = True) -> Any:
        import globus_sdk

        self.requests += 1
        try:
            return fn().data
        except globus_sdk.GlobusAPIError as exc:
            body = exc.raw_json if isinstance(exc.raw_json, dict) else {}
            code = body.get("error_code")
            if recover and exc.http_status == 404 and code == INSTANCE_GONE:
                self._recreate()
                return self._call(fn, recover=False)
            message = body.get("message") or exc.message or f"HTTP {exc.http_status}"
            if exc.http_status == 404 and code == 40401:
                raise SourceError(f"UnknownTopicOrPartitionError: {message} (the REST API "
                                  "reads topics of your own namespace only)",
                                  code=UNKNOWN_TOPIC, retriable=False) from exc
            retriable = exc.http_status in (429, 500, 502, 503, 504)
            raise SourceError(f"RestConsumerError {exc.http_status}/{code}: {message}",
                              retriable=retriable) from exc
        except globus_sdk.NetworkError as exc:
            raise SourceError(f"the web service cannot be reached ({type(exc).__name__})",
                              retriable=True) from exc

    def _create(self, group: str, settings: dict[str, Any]) -> str:
        self.requests = getattr(self, "requests", 0) + 1
        import globus_sdk

        try:
            reply = self.web.create_consumer(group, settings).data
        except (globus_sdk.GlobusAPIError, globus_sdk.NetworkError) as exc:
            body = getattr(exc, "raw_json", None) or {}
            raise SourceError(f"cannot create a REST consumer: "
                              f"{body.get('message') if isinstance(body, dict) else exc}",
                              retriable=False) from exc
        path: str = self.web.instance_path(group, str(reply["instance_id"]))
        return path

    def _recreate(self) -> None:
        """The service dropped the instance (idle, or restarted): a new one where it was."""
        self.instance = self._create(self.group, self._settings)
        if self._subscribed:
            self.web.subscribe(self.instance, self._subscribed)
        elif self._assigned:
            self.web.assign(self.instance, self._parts(self._assigned))
            offsets = [{"topic": self._short(t), "partition": p, "offset": off}
                       for (t, p), off in self._positions.items() if (t, p) in self._assigned]
            if offsets:
                self.web.seek(self.instance, offsets)

    # --- the Source protocol -------------------------------------------------------------

    def partitions(self, topic: str, timeout: float = 10.0) -> list[int]:
        found = self.client.list_namespaces().get("namespaces") or {}
        topics = found.get(self.client.namespace, [])
        return [0] if self._short(topic) in topics else []  # v3 topics have one partition

    def watermarks(self, tps: Iterable[TP], timeout: float = 10.0) -> dict[TP, tuple[int, int]]:
        tps = list(tps)
        if not tps:
            return {}
        with _probe_lock:
            return self._probe_watermarks(tps)

    def _probe_watermarks(self, tps: list[TP]) -> dict[TP, tuple[int, int]]:
        """Seek a probe instance to each edge, commit it, read the commit back (the API has
        no other way to tell an end offset; see the module's docstring)."""
        probe = self._create(PROBE_GROUP, {"format": "binary", "auto.commit.enable": "false"})
        parts = self._parts(tps)
        try:
            self._call(lambda: self.web.assign(probe, parts), recover=False)
            edges = []
            for end in (False, True):
                def seek(edge: bool = end) -> Any:
                    return self.web.seek_edge(probe, parts, end=edge)

                self._call(seek, recover=False)
                self._call(lambda: self.web.commit(probe), recover=False)
                got = self._call(lambda: self.web.committed(probe, parts), recover=False)
                edges.append({(self._back(o["topic"]), o["partition"]): int(o["offset"])
                              for o in got.get("offsets", [])})
        finally:
            self._call(lambda: self.web.delete_consumer(probe), recover=False)
        low, high = edges
        out = {tp: (low.get(tp, 0), high.get(tp, low.get(tp, 0))) for tp in tps}
        self._highwater.update({tp: marks[1] for tp, marks in out.items()})
        return out

    def offsets_for_times(self, tps: Iterable[TP], ms: int,
                          timeout: float = 10.0) -> dict[TP, int | None]:
        raise DiasporaUsageError(
            TIME_START_NEEDS_KAFKA,
            hint="use engine='confluent' or engine='kafka-python' where the Kafka ports are "
            "open, or over REST start='earliest', 'latest', an offset or -n")

    def assign(self, offsets: dict[TP, int]) -> None:
        for tp in offsets:
            if tp not in self._assigned:
                self._assigned.append(tp)
        self._call(lambda: self.web.assign(self.instance, self._parts(self._assigned)))
        self._seek(offsets)

    def _seek(self, offsets: dict[TP, int]) -> None:
        if not offsets:
            return
        body = [{"topic": self._short(t), "partition": p, "offset": int(off)}
                for (t, p), off in offsets.items()]
        self._call(lambda: self.web.seek(self.instance, body))
        self._positions.update(offsets)
        self._buffer = [r for r in self._buffer
                        if (self._back(r["topic"]), r["partition"]) not in offsets]

    def assignment(self) -> list[TP]:
        return list(self._assigned)

    def subscribe(self, topics: Sequence[str], on_assign: OnAssign) -> None:
        self._subscribed = [self._short(t) for t in topics]
        self._on_assign = on_assign
        self._call(lambda: self.web.subscribe(self.instance, self._subscribed))

    def _join(self, timeout_ms: int) -> None:
        """Subscribed: the service assigns at the first fetch; then ask where to start."""
        assert self._on_assign is not None
        self._buffer += self._fetch(timeout_ms)
        got = self._call(lambda: self.web.assignments(self.instance))
        tps = [(self._back(p["topic"]), int(p["partition"])) for p in got.get("partitions", [])]
        if not tps:
            return
        on_assign, self._on_assign = self._on_assign, None
        self._assigned = tps
        wanted = on_assign(tps)
        self._seek({tp: off for tp, off in wanted.items() if tp in tps})

    def pause(self, tps: Iterable[TP]) -> None:
        self._paused.update(tp for tp in tps if tp in self._assigned)

    def resume(self) -> None:
        self._paused.clear()

    def paused(self) -> set[TP]:
        return set(self._paused)

    def _fetch(self, timeout_ms: int) -> list[dict[str, Any]]:
        wait = max(0, min(MAX_FETCH_MS, timeout_ms))
        got = self._call(lambda: self.web.records(self.instance, timeout_ms=wait,
                                                  max_bytes=FETCH_MAX_BYTES))
        return list(got or [])

    def poll(self, timeout: float, max_records: int) -> list[RawBatch]:
        timeout_ms = int(timeout * 1000)
        if self._on_assign is not None:
            self._join(timeout_ms)
        active = [tp for tp in self._assigned if tp not in self._paused]
        if not self._buffer and (active or self._subscribed):
            self._buffer = self._fetch(timeout_ms)
        taken, self._buffer = self._buffer[:max_records], self._buffer[max_records:]
        if self._paused:
            held = [r for r in taken if (self._back(r["topic"]), r["partition"]) in self._paused]
            if held:  # read again once resumed
                first: dict[TP, int] = {}
                for r in held:
                    tp = (self._back(r["topic"]), int(r["partition"]))
                    first.setdefault(tp, int(r["offset"]))
                taken = [r for r in taken if r not in held]
                self._seek(first)
        return self._batches(taken)

    def _batches(self, records: list[dict[str, Any]]) -> list[RawBatch]:
        groups: dict[TP, list[dict[str, Any]]] = {}
        for r in records:
            groups.setdefault((self._back(r["topic"]), int(r["partition"])), []).append(r)
        out = []
        for tp, recs in groups.items():
            offsets = np.array([int(r["offset"]) for r in recs], np.int64)
            self._positions[tp] = int(offsets[-1]) + 1
            self._highwater[tp] = max(self._highwater.get(tp, 0), self._positions[tp])
            out.append(RawBatch(
                tp[0], tp[1], offsets, np.full(len(recs), -1, np.int64),
                [_b64(r.get("key")) for r in recs], [_b64(r.get("value")) for r in recs],
                [[(h["name"], _b64(h.get("value"))) for h in (r.get("headers") or [])]
                 for r in recs] if self._headers else None))
        return out

    def highwater(self, tp: TP) -> int | None:
        return self._highwater.get(tp)

    def position(self, tp: TP) -> int | None:
        return self._positions.get(tp)

    def take_error(self) -> SourceError | None:
        return None

    def broken(self) -> str | None:
        return None

    def close(self, *, commit: bool) -> None:
        try:
            if commit and self._group_mode and self._positions:
                done = [{"topic": self._short(t), "partition": p, "offset": off - 1}
                        for (t, p), off in self._positions.items() if off > 0]
                if done:  # what was handed over (the service commits offset + 1)
                    self._call(lambda: self.web.commit(self.instance, done), recover=False)
        finally:
            with contextlib.suppress(SourceError):  # gone already
                self._call(lambda: self.web.delete_consumer(self.instance), recover=False)
