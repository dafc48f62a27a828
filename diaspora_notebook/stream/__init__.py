"""Live pandas views of Kafka topics (state only: the widgets live in ``notebook.widgets``).

``LiveDataFrame`` is the public class (``live.window(...)`` / ``live.groupby(...)`` make a
``LiveAggregate``); ``live_dataframe`` the plain function magics call;
``read_batches``/``read_frame`` read part of a topic once (peek, topic views). One engine reads
for all of them: confluent-kafka (librdkafka) when installed, kafka-python otherwise.
"""

from __future__ import annotations

from diaspora_notebook.kafka.flatten import RowDecoder, flatten
from diaspora_notebook.kafka.read import read_batches, read_frame
from diaspora_notebook.kafka.source import pick_engine
from diaspora_notebook.kafka.start import parse_start
from diaspora_notebook.stream.aggregate import LiveAggregate
from diaspora_notebook.stream.frame import LiveFrame
from diaspora_notebook.stream.live import LiveDataFrame, live_dataframe, running_streams, stop_all
from diaspora_notebook.stream.stats import StreamStats
from diaspora_notebook.stream.views import register_view

__all__ = [
    "LiveAggregate",
    "LiveDataFrame",
    "LiveFrame",
    "RowDecoder",
    "StreamStats",
    "flatten",
    "live_dataframe",
    "parse_start",
    "pick_engine",
    "read_batches",
    "read_frame",
    "register_view",
    "running_streams",
    "stop_all",
]
