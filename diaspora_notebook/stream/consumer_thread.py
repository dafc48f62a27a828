"""The background poll loop behind ``LiveDataFrame``: the kernel's thread never waits on Kafka.

The loop owns one kafka-python consumer. It positions each partition explicitly (so the frame
always knows where it stands), polls batches, hands them to a sink, keeps lag up to date and
survives errors: each one is recorded in ``StreamStatus`` (never printed), then retried with
backoff; after an error that leaves the consumer unusable it builds a new consumer and seeks every
partition to the next offset the frame expects, so a restart neither skips nor repeats records.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from diaspora_notebook.errors import DiasporaUsageError, KafkaConnectionProblem
from diaspora_notebook.stream.frame import LiveFrame
from diaspora_notebook.stream.stats import StreamStatus

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 200
POLL_MAX_RECORDS = 2_000
PROBE_EVERY = 3.0  # seconds without records before asking the brokers for end offsets
PROBE_TIMEOUT_MS = 2_000
BACKOFF = (0.2, 10.0)

Start = str | int | dt.datetime
Sink = Callable[[dict[Any, list[Any]]], None]


def normalize_start(start: Any) -> tuple[str, Any]:
    """``start=`` -> ``("earliest"|"latest", None)``, ``("offset", n)``, ``("last", n)`` or
    ``("time", ms)``.

    :param start: ``"latest"`` (events after now), ``"earliest"``, an offset ``n >= 0`` (every
        partition from offset n), ``-n`` (the last n events of each partition), or a timestamp
        (``datetime``/``pd.Timestamp``; naive means UTC)
    """
    if isinstance(start, str) and start in ("latest", "earliest"):
        return start, None
    if isinstance(start, bool):
        pass
    elif isinstance(start, int):
        return ("offset", start) if start >= 0 else ("last", -start)
    elif isinstance(start, dt.datetime):
        stamp = start if start.tzinfo else start.replace(tzinfo=dt.timezone.utc)
        return "time", int(stamp.timestamp() * 1000)
    raise DiasporaUsageError(
        f"start must be 'latest', 'earliest', an offset or a datetime, not {start!r}",
        hint="e.g. start='earliest', start=0, start=-100 (last 100 per partition) or "
        "start=pd.Timestamp('2026-01-01T00:00Z')",
    )


def parse_start(text: str) -> Start:
    """``start`` from text (for magics): ``latest``, ``earliest``, ``42``, ``-100`` or ISO time.

    :param text: what the user typed
    """
    text = text.strip()
    if text in ("latest", "earliest"):
        return text
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DiasporaUsageError(
            f"cannot read {text!r} as a start position",
            hint="use latest, earliest, an offset (42), -N for the last N events, or an ISO "
            "time such as 2026-01-01T00:00Z",
        ) from None


def describe_error(exc: BaseException) -> str:
    """A short, user-facing text for an error met by the consumer thread."""
    if isinstance(exc, KafkaConnectionProblem):
        return exc.one_line()
    name = type(exc).__name__
    text = str(exc)
    errno = getattr(exc, "errno", None)
    prefix = f"[Error {errno}] {name}"
    if errno is not None and text.startswith(prefix):  # kafka-python repeats the class name
        text = text[len(prefix):].lstrip(": ")
    if "Authorization" in name or "SaslAuthentication" in name:
        return f"{name}: {text} - check that your key is valid and that you may read the topic"
    return f"{name}: {text}" if text else name


def _needs_new_consumer(exc: BaseException) -> bool:
    from kafka.errors import KafkaError

    if isinstance(exc, KafkaError):
        return not getattr(exc, "retriable", False)
    return True


class ConsumerLoop:
    """Runs in its own daemon thread; ``LiveDataFrame`` owns it.

    :param topics: topics to read
    :param frame: where offsets are tracked (and records end up, through ``sink``)
    :param status: where state, lag and errors are written
    :param sink: called with each non-empty ``poll()`` result, in the loop's thread
    :param config: kafka-python consumer kwargs (a function, so credentials are read lazily)
    :param start: see ``normalize_start``
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
        start: Any = "latest",
        group_id: str | None = None,
        created_ms: int | None = None,
        poll_timeout_ms: int = POLL_TIMEOUT_MS,
        max_records: int = POLL_MAX_RECORDS,
    ) -> None:
        self.topics = list(topics)
        self.frame = frame
        self.status = status
        self.sink = sink
        self._config = config
        self.start_kind, self.start_value = normalize_start(start)
        self.group_id = group_id
        self.created_ms = created_ms if created_ms is not None else int(time.time() * 1000)
        self.poll_timeout_ms = poll_timeout_ms
        self.max_records = max_records
        self.stop_event = threading.Event()
        self.consumer: Any = None
        self._highwater: dict[Any, int] = {}
        self._positions: dict[Any, int] = {}
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

    # --- life cycle ---------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # never let threading's excepthook print into a cell
            log.debug("live consumer thread crashed", exc_info=True)
            self.status.record_error(exc, describe_error(exc), state="failed")
            self._close(autocommit=False)

    def _run(self) -> None:
        from kafka.errors import KafkaConfigurationError

        delay = BACKOFF[0]
        while not self.stop_event.is_set():
            try:
                if self.consumer is None:
                    self.consumer = self._connect()
                    self._paused_applied = False
                    healthy = True
                else:
                    healthy = self._step()
                if healthy:  # records arrived or the brokers answered: the problem is over
                    self.status.clear_error()
                    delay = BACKOFF[0]
            except (KafkaConfigurationError, DiasporaUsageError, TypeError) as exc:
                # the settings themselves are wrong: retrying cannot help
                log.debug("live consumer cannot start", exc_info=True)
                self.status.record_error(exc, describe_error(exc), state="failed")
                break
            except Exception as exc:  # recorded and retried: the thread must not die
                log.debug("live consumer error", exc_info=True)
                self.status.record_error(exc, describe_error(exc))
                if self.consumer is not None and _needs_new_consumer(exc):
                    self._close(autocommit=False)
                self.stop_event.wait(delay)
                delay = min(delay * 2, BACKOFF[1])
        self._close(autocommit=True)
        self.status.set_state("stopped")

    def _close(self, *, autocommit: bool) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is None:
            return
        try:
            consumer.close(autocommit=autocommit and self.group_id is not None, timeout_ms=2000)
        except Exception:  # closing a broken consumer may fail too; it is gone either way
            log.debug("closing the live consumer failed", exc_info=True)

    # --- connecting and positioning -------------------------------------------------------------

    def _connect(self) -> Any:
        from kafka import KafkaConsumer

        from diaspora_notebook.kafka_diagnose import diagnosed_connection

        config = dict(self._config())
        config.update(
            group_id=self.group_id,
            enable_auto_commit=self.group_id is not None,
            key_deserializer=None,
            value_deserializer=None,
        )
        config.setdefault("bootstrap_timeout_ms", 10_000)
        config.setdefault("auto_offset_reset", "earliest" if self.start_kind == "earliest"
                          else "latest")
        with diagnosed_connection(config):
            consumer = KafkaConsumer(**config)
        try:
            if self.group_id is None:
                self._assign(consumer)
            else:
                consumer.subscribe(self.topics, listener=_Rebalance(self, consumer))
        except BaseException:
            consumer.close(autocommit=False, timeout_ms=2000)
            raise
        return consumer

    def _assign(self, consumer: Any) -> None:
        """Assign every partition of every topic; new ones (found later) are added."""
        from kafka import TopicPartition

        wanted = []
        missing = []
        for topic in self.topics:
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                missing.append(topic)
            wanted += [TopicPartition(topic, p) for p in sorted(parts or ())]
        current = set(consumer.assignment())
        new = [tp for tp in wanted if tp not in current]
        if new:
            consumer.assign(sorted(current | set(new)))
            self._position(consumer, new)
            if self.status.paused:
                consumer.pause(*new)
        if missing:
            from kafka.errors import UnknownTopicOrPartitionError

            raise UnknownTopicOrPartitionError(
                f"topic(s) {', '.join(missing)} not found or not readable with these credentials"
            )

    def _position(self, consumer: Any, partitions: Sequence[Any]) -> None:
        """Seek each partition: to the frame's next offset if it has one, else per ``start``."""
        known = self.frame.next_offsets()
        fresh = []
        for tp in partitions:
            nxt = known.get((tp.topic, tp.partition))
            if nxt is not None:
                consumer.seek(tp, nxt)
                self._positions[tp] = nxt
            else:
                fresh.append(tp)
        if not fresh:
            return
        begin = consumer.beginning_offsets(fresh, timeout_ms=10_000)
        end = consumer.end_offsets(fresh, timeout_ms=10_000)
        by_time: dict[Any, Any] = {}
        if self.start_kind in ("latest", "time"):
            ms = self.created_ms if self.start_kind == "latest" else self.start_value
            by_time = consumer.offsets_for_times({tp: ms for tp in fresh}, timeout_ms=10_000)
        for tp in fresh:
            if self.start_kind == "earliest":
                offset = begin[tp]
            elif self.start_kind == "offset":
                offset = min(max(self.start_value, begin[tp]), end[tp])
            elif self.start_kind == "last":
                offset = max(begin[tp], end[tp] - self.start_value)
            else:
                found = by_time.get(tp)
                offset = found.offset if found is not None else end[tp]
            consumer.seek(tp, offset)
            self._positions[tp] = offset
            self._highwater[tp] = end[tp]

    # --- one round ---------------------------------------------------------------------------

    def _step(self) -> bool:
        """One poll (and the upkeep around it); true if it showed the brokers are answering."""
        consumer = self.consumer
        self._apply_pause(consumer)
        requested = self._ends_requested
        if requested > self.ends_generation:
            self._probe(consumer)
            self._update_lag(consumer)
            self.ends_generation = requested
        batch = consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=self.max_records)
        now = time.monotonic()
        healthy = bool(batch)
        if batch:
            self._last_records = now
            self.status.clear_error()  # before the rows show: waiters see a healthy stream
            self.sink(batch)
        if not batch or self._caught_up(consumer, batch):
            self.frame.decode_pending()  # spare time: decode what is held (counts bad payloads)
        if self.group_id is None and now - self._last_partition_check > 10.0:
            self._last_partition_check = now
            self._assign(consumer)
        probe_every = 1.0 if self.status.error else PROBE_EVERY
        if now - self._last_records > probe_every and now - self._last_probe > probe_every:
            self._last_probe = now
            self._probe(consumer)
            healthy = True
        if now - self._last_lag > 0.25 or not batch:
            self._last_lag = now
            self._update_lag(consumer)
        return healthy

    def request_fresh_ends(self) -> int:
        """Ask the thread to fetch end offsets now; returns the generation to wait for."""
        self._ends_requested += 1
        return self._ends_requested

    def _caught_up(self, consumer: Any, batch: dict[Any, list[Any]]) -> bool:
        """Whether these records end near the partitions' ends (no backlog left to read)."""
        behind = 0
        for tp, records in batch.items():
            high = consumer.highwater(tp)
            if high is None:
                return False
            behind += high - records[-1].offset - 1
        return behind < self.max_records

    def _apply_pause(self, consumer: Any) -> None:
        want = self.status.paused
        if want:
            todo = set(consumer.assignment()) - set(consumer.paused())
            if todo:
                consumer.pause(*todo)
            self._paused_applied = True
        elif self._paused_applied:
            self.sink({})  # let the sink hand over what it parked while paused, before polling
            consumer.resume(*consumer.paused())
            self._paused_applied = False

    def _probe(self, consumer: Any) -> None:
        """No records for a while: ask for end offsets (proves the brokers answer; fixes lag)."""
        assigned = list(consumer.assignment())
        if assigned:
            self._highwater.update(consumer.end_offsets(assigned, timeout_ms=PROBE_TIMEOUT_MS))
        known = self.frame.next_offsets()
        for tp in assigned:  # group mode: where a partition starts is known only after a fetch
            if tp not in self._positions and (tp.topic, tp.partition) not in known:
                pos = consumer.position(tp, timeout_ms=PROBE_TIMEOUT_MS)
                if pos is not None:
                    self._positions[tp] = pos

    def _update_lag(self, consumer: Any) -> None:
        nxt = self.frame.next_offsets()
        lag: dict[str, int | None] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            known = self._highwater.get(tp)
            if high is None or (known is not None and known > high):
                high = known
            pos = nxt.get((tp.topic, tp.partition), self._positions.get(tp))
            if high is not None:
                self._highwater[tp] = high
            lag[f"{tp.topic}[{tp.partition}]"] = (
                None if high is None or pos is None else max(high - pos, 0)
            )
        with self.status.lock:
            self.status.lag = lag


class _Rebalance:
    """Group mode: seek newly assigned partitions to where the frame stands (or per ``start``)."""

    def __init__(self, loop: ConsumerLoop, consumer: Any) -> None:
        from kafka import ConsumerRebalanceListener

        self.loop = loop
        self.consumer = consumer
        ConsumerRebalanceListener.register(type(self))

    def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    def on_partitions_assigned(self, assigned: Any) -> None:
        known = self.loop.frame.next_offsets()
        for tp in assigned:
            nxt = known.get((tp.topic, tp.partition))
            if nxt is not None:
                self.consumer.seek(tp, nxt)
        fresh = [tp for tp in assigned if (tp.topic, tp.partition) not in known]
        if fresh and self.loop.start_kind not in ("earliest", "latest"):
            self.loop._position(self.consumer, fresh)
        if self.loop.status.paused:
            self.consumer.pause(*assigned)
