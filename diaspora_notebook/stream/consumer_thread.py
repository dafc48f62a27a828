"""The background poll loop behind ``LiveDataFrame``: the kernel's thread never waits on Kafka.

The loop owns one source of the chosen engine (a :class:`~diaspora_notebook.kafka.source.Source`:
librdkafka, kafka-python or in memory) and sees batches as columns, never record objects. It
positions each partition explicitly (so the frame always knows where it stands; ``start`` is
resolved by :class:`~diaspora_notebook.kafka.start.Start`), polls batches, hands them to a sink,
keeps lag up to date and survives errors: each one is recorded in ``StreamStatus`` (never
printed), then retried with backoff; after an error that leaves the consumer unusable it builds
a new consumer and seeks every partition to the next offset the frame expects, so a restart
neither skips nor repeats records.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from diaspora_notebook.errors import DiasporaUsageError, KafkaConnectionProblem
from diaspora_notebook.kafka.errors import (
    UNKNOWN_TOPIC,
    SourceError,
    is_authentication,
    is_denied,
)
from diaspora_notebook.kafka.source import TP, RawBatch, Source, make_source
from diaspora_notebook.kafka.start import Start, StartSpec
from diaspora_notebook.stream.frame import LiveFrame
from diaspora_notebook.stream.stats import StreamStatus

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 200  # kafka-python: poll() returns as soon as records are there
POLL_MAX_RECORDS = 2_000
# librdkafka's consume() waits until the batch is full or the timeout passes: a short timeout
# bounds the latency a slow stream adds, a large batch lets a backlog come in big steps
CONFLUENT_TIMEOUT_MS = 40
CONFLUENT_MAX_RECORDS = 2_000
PROBE_EVERY = 3.0  # seconds without records before asking the brokers for end offsets
PROBE_TIMEOUT_MS = 2_000
# retries wait 0.2 s, doubling up to 2 s: a failed round already spends up to PROBE_TIMEOUT_MS on
# its probe, and a longer wait only delays the first fetch after the brokers are back (with
# 10 s the stream stood still ~6 s after a broker restart although the consumer was ready)
BACKOFF = (0.2, 2.0)
#: an error stays until records arrive or this long passes without another one: a failing fetch
#: (access revoked) fails again within a second or two, while a probe of the brokers succeeds
ERROR_QUIET_S = 3.0
PENDING_LIMIT = 50_000  # raw payloads held undecoded before the consumer thread decodes too

Sink = Callable[[list[RawBatch]], None]


def describe_error(exc: BaseException) -> str:
    """A short, user-facing text for an error met by the consumer thread."""
    if isinstance(exc, KafkaConnectionProblem):
        return exc.one_line()
    if isinstance(exc, SourceError):
        return str(exc)
    name = type(exc).__name__
    text = str(exc)
    errno = getattr(exc, "errno", None)
    prefix = f"[Error {errno}] {name}"
    if errno is not None and text.startswith(prefix):  # kafka-python repeats the class name
        text = text[len(prefix):].lstrip(": ")
    if is_denied(exc) or is_authentication(exc):
        return f"{name}: {text} - check that your key is valid and that you may read the topic"
    return f"{name}: {text}" if text else name


def _is_config_error(exc: BaseException) -> bool:
    """The settings themselves are wrong: retrying cannot help."""
    if isinstance(exc, (DiasporaUsageError, TypeError)):
        return True
    if isinstance(exc, SourceError):
        return not exc.retriable
    try:
        from kafka.errors import KafkaConfigurationError
    except ImportError:
        return False
    return isinstance(exc, KafkaConfigurationError)


def _needs_new_consumer(exc: BaseException) -> bool:
    if isinstance(exc, SourceError):
        return exc.fatal
    try:
        from kafka.errors import KafkaError
    except ImportError:
        return True
    if isinstance(exc, KafkaError):
        return not getattr(exc, "retriable", False)
    return True


def _unknown_topics(missing: list[str]) -> Exception:
    return SourceError(f"UnknownTopicOrPartitionError: topic(s) {', '.join(missing)} not "
                       "found or not readable with these credentials", code=UNKNOWN_TOPIC)


class ConsumerLoop:
    """Runs in its own daemon thread; ``LiveDataFrame`` owns it.

    :param topics: topics to read
    :param frame: where offsets are tracked (and records end up, through ``sink``)
    :param status: where state, lag and errors are written
    :param sink: called with each non-empty list of batches, in the loop's thread
    :param config: consumer settings for ``engine`` (a function, so credentials are read lazily)
    :param engine: ``"confluent"``, ``"kafka-python"`` or ``"memory"`` (already picked)
    :param start: where to begin (:class:`~diaspora_notebook.kafka.start.Start`)
    :param group_id: a consumer group (offsets committed, a restart resumes); ``None`` reads
        every partition directly
    :param created_ms: the wall clock at creation: ``start="latest"`` means events from then on
    """

    def __init__(
        self,
        *,
        topics: Sequence[str],
        frame: LiveFrame,
        status: StreamStatus,
        sink: Sink,
        config: Callable[[], dict[str, Any]],
        engine: str = "kafka-python",
        start: StartSpec = "latest",
        group_id: str | None = None,
        created_ms: int | None = None,
        poll_timeout_ms: int | None = None,
        max_records: int | None = None,
    ) -> None:
        self.topics = list(topics)
        self.frame = frame
        self.status = status
        self.sink = sink
        self._config = config
        self.engine = engine
        self.start_at = Start.of(start)
        self.group_id = group_id
        self.created_ms = created_ms if created_ms is not None else int(time.time() * 1000)
        fast = engine == "confluent"
        self.poll_timeout = (poll_timeout_ms if poll_timeout_ms is not None else
                             CONFLUENT_TIMEOUT_MS if fast else POLL_TIMEOUT_MS) / 1000
        self.max_records = max_records or (CONFLUENT_MAX_RECORDS if fast else POLL_MAX_RECORDS)
        self.stop_event = threading.Event()
        self.source: Source | None = None
        self._highwater: dict[TP, int] = {}
        self._positions: dict[TP, int] = {}
        self._paused_applied = False
        self._last_records = time.monotonic()
        self._last_probe = 0.0
        self._last_lag = 0.0
        self._last_partition_check = 0.0
        # wait() without n: "caught up" must be judged against end offsets fetched after the
        # call; a fetch response's highwater may predate events acknowledged since
        self._ends_requested = 0
        self.ends_generation = 0
        self.thread = threading.Thread(target=self.run, name="diaspora-live-consumer", daemon=True)
        # payloads are decoded in a thread of their own, so parsing one batch (pyarrow, without
        # the GIL) overlaps with fetching the next
        self._decode_wake = threading.Event()
        self.decoder = threading.Thread(target=self._decode_loop, name="diaspora-live-decoder",
                                        daemon=True)

    def start(self) -> None:
        """Start the consumer and decoder threads."""
        self.thread.start()
        self.decoder.start()

    def _decode_loop(self) -> None:
        while not self.stop_event.is_set():
            self._decode_wake.wait(0.2)
            self._decode_wake.clear()
            try:
                self.frame.decode_pending(budget=1 << 62)
            except Exception:  # a bug in decoding must not kill the stream; snapshots retry
                log.debug("decoding a batch failed", exc_info=True)

    # --- life cycle ---------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # never let threading's excepthook print into a cell
            log.debug("live consumer thread crashed", exc_info=True)
            self.status.record_error(exc, describe_error(exc), state="failed")
            self._close(commit=False)

    def _run(self) -> None:
        delay = BACKOFF[0]
        while not self.stop_event.is_set():
            try:
                if self.source is None:
                    self.source = self._connect()
                    self._paused_applied = False
                    healthy = True
                else:
                    healthy = self._step()
                if healthy:  # the brokers answered (records arriving clear it in _step)
                    self.status.clear_error(quiet_for=ERROR_QUIET_S)
                    delay = BACKOFF[0]
            except Exception as exc:  # recorded and retried: the thread must not die
                if _is_config_error(exc):
                    log.debug("live consumer cannot start", exc_info=True)
                    self.status.record_error(exc, describe_error(exc), state="failed")
                    break
                log.debug("live consumer error", exc_info=True)
                self.status.record_error(exc, describe_error(exc))
                if self.source is not None and (_needs_new_consumer(exc) or self.source.broken()):
                    self._close(commit=False)
                self.stop_event.wait(delay)
                delay = min(delay * 2, BACKOFF[1])
        self._close(commit=True)
        self._decode_wake.set()
        self.status.set_state("stopped")

    def _close(self, *, commit: bool) -> None:
        source, self.source = self.source, None
        if source is None:
            return
        try:
            source.close(commit=commit and self.group_id is not None)
        except Exception:  # closing a broken consumer may fail too; it is gone either way
            log.debug("closing the live consumer failed", exc_info=True)

    # --- connecting and positioning -------------------------------------------------------------

    def _connect(self) -> Source:
        reset = "earliest" if self.start_at.kind == "earliest" else "latest"
        source = make_source(self.engine, dict(self._config()), group_id=self.group_id,
                             auto_offset_reset=reset, topics=self.topics)
        try:
            if self.group_id is None:
                self._assign(source)
            else:
                source.subscribe(self.topics, self._on_assign)
        except BaseException:
            source.close(commit=False)
            raise
        return source

    def _assign(self, source: Source) -> None:
        """Assign every partition of every topic; new ones (found later) are added."""
        wanted: list[TP] = []
        missing = []
        for topic in self.topics:
            parts = source.partitions(topic)
            if not parts:
                missing.append(topic)
            wanted += [(topic, p) for p in parts]
        current = set(source.assignment())
        new = [tp for tp in wanted if tp not in current]
        if new:
            source.assign(self._offsets(source, new))
            if self.status.paused:
                source.pause(new)
        if missing:
            raise _unknown_topics(missing)

    def _offsets(self, source: Source, partitions: Sequence[TP]) -> dict[TP, int]:
        """Where each partition starts: the frame's next offset if it has one, else ``start``."""
        known = self.frame.next_offsets()
        out: dict[TP, int] = {}
        fresh = []
        for tp in partitions:
            nxt = known.get(tp)
            if nxt is not None:
                out[tp] = nxt
            else:
                fresh.append(tp)
        if not fresh:
            return out
        marks = source.watermarks(fresh)
        # "latest": the events from the stream's creation on, even those that arrived between
        # creating it and connecting (a source without timestamps, engine="rest": the end now)
        by_time = getattr(source, "by_time", True)
        out.update(self.start_at.resolve(source, marks,
                                         latest_ms=self.created_ms if by_time else None))
        self._highwater.update({tp: marks[tp][1] for tp in fresh})
        self._positions.update(out)
        return out

    def _on_assign(self, assigned: list[TP]) -> dict[TP, int]:
        """Group mode: continue where the frame stands (or per ``start`` when it is an offset)."""
        known = self.frame.next_offsets()
        out = {tp: known[tp] for tp in assigned if tp in known}
        fresh = [tp for tp in assigned if tp not in known]
        if fresh and self.source is not None and self.start_at.kind not in ("earliest", "latest"):
            out.update(self._offsets(self.source, fresh))
        return out

    # --- one round ---------------------------------------------------------------------------

    def _step(self) -> bool:
        """One poll (and the upkeep around it); true if it showed the brokers are answering."""
        source = self.source
        assert source is not None  # _run connects first
        self._apply_pause(source)
        requested = self._ends_requested
        if requested > self.ends_generation:
            self._probe(source)
            self._update_lag(source)
            self.ends_generation = requested
        if self.frame.pending_rows > PENDING_LIMIT:
            # the decoder falls behind a catch-up: decode here too rather than let raw payloads
            # pile up (memory stays bounded; .df would have to wait for them anyway)
            self.frame.decode_pending(budget=self.max_records)
        batches = source.poll(self.poll_timeout, self.max_records)
        now = time.monotonic()
        healthy = bool(batches)
        if batches:
            self._last_records = now
            self.status.clear_error()  # before the rows show: waiters see a healthy stream
            self.sink(batches)
            self._decode_wake.set()
        else:
            problem = source.take_error()
            if problem is not None:
                raise problem
        if self.group_id is None and now - self._last_partition_check > 10.0:
            self._last_partition_check = now
            self._assign(source)
        probe_every = 1.0 if self.status.error else PROBE_EVERY
        if now - self._last_records > probe_every and now - self._last_probe > probe_every:
            self._last_probe = now
            self._probe(source)
            healthy = True
        if now - self._last_lag > 0.25 or not batches:
            self._last_lag = now
            self._update_lag(source)
        return healthy

    def request_fresh_ends(self) -> int:
        """Ask the thread to fetch end offsets now; returns the generation to wait for."""
        self._ends_requested += 1
        return self._ends_requested

    def _apply_pause(self, source: Any) -> None:
        if self.status.paused:
            todo = set(source.assignment()) - source.paused()
            if todo:
                source.pause(todo)
            self._paused_applied = True
        elif self._paused_applied:
            self.sink([])  # let the sink hand over what it parked while paused, before polling
            source.resume()
            self._paused_applied = False

    def _probe(self, source: Any) -> None:
        """No records for a while: ask for end offsets (proves the brokers answer; fixes lag)."""
        assigned = list(source.assignment())
        if assigned:
            marks = source.watermarks(assigned, timeout=PROBE_TIMEOUT_MS / 1000)
            self._highwater.update({tp: high for tp, (_low, high) in marks.items()})
        known = self.frame.next_offsets()
        for tp in assigned:  # group mode: where a partition starts is known only after a fetch
            if tp not in self._positions and tp not in known:
                pos = source.position(tp)
                if pos is not None:
                    self._positions[tp] = pos

    def _update_lag(self, source: Any) -> None:
        nxt = self.frame.next_offsets()
        lag: dict[str, int | None] = {}
        for tp in source.assignment():
            high = source.highwater(tp)
            known = self._highwater.get(tp)
            if high is None or (known is not None and known > high):
                high = known
            pos = nxt.get(tp, self._positions.get(tp))
            if high is not None:
                self._highwater[tp] = high
            lag[f"{tp[0]}[{tp[1]}]"] = None if high is None or pos is None else max(high - pos, 0)
        with self.status.lock:
            self.status.lag = lag
