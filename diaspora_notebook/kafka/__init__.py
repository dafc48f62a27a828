"""Kafka for the toolkit: sources, where reads start, one-off reads, errors by code, clients.

- :mod:`.source`: the ``Source`` protocol, ``RawBatch`` (a partition's records as columns),
  ``pick_engine``/``make_source``; the sources: :mod:`.confluent` (librdkafka),
  :mod:`.kafka_python`, :mod:`.memory` (in this process, for tests)
- :mod:`.start`: ``Start``, the one ``start=`` of LiveDataFrame, reads and the explorer
- :mod:`.read`: ``read_raw`` / ``read_batches`` / ``read_frame``, a topic read once
- :mod:`.decode`, :mod:`.flatten`: payloads -> value columns; :mod:`.arrow`: records as
  columns -> Arrow and pandas, and ``as_text``, the one fallback for what Arrow cannot type
- :mod:`.errors`: errors classified by Kafka's codes, and as Diaspora errors
- :mod:`.clients`: the seed's ``KafkaProducer``/``KafkaConsumer``/``KafkaAdmin``/``NewTopic``
  (kafka-python, logged in with your key); :mod:`.connections`: short-lived ones for one call;
  :mod:`.metadata_refresh`: kafka-python's metadata refresh kept alive (why a connection
  failed is :mod:`diaspora_notebook.diagnose`, below ``Client``, which uses it too)
- :mod:`.documents`: JSON documents in (one per line) and a produce summary out

Nothing is imported here: ``import diaspora_notebook.kafka.source`` does not load kafka-python.
"""
