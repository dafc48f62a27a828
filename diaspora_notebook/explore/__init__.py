"""Topic exploration as plain Python (no Jupyter): read pages and seek, filter, groups and lag,
schema and drift, reproducible snapshots, and a topic in detail.

Re-exported by :mod:`diaspora_notebook.topics` (``topics.read``, ``topics.groups``, ...), and
the engine under ``%diaspora_explore``'s widget (:class:`~.state.ExplorerState`).
"""

from __future__ import annotations

from diaspora_notebook.explore.browse import read
from diaspora_notebook.explore.describe import PartitionDetails, TopicDetails, describe_topic
from diaspora_notebook.explore.groups import GroupInfo, group_infos, groups, reset_group
from diaspora_notebook.explore.result import ReadResult
from diaspora_notebook.explore.schema import Schema, schema
from diaspora_notebook.explore.snapshot import export, load_provenance
from diaspora_notebook.explore.state import ExplorerState, MessageDetail
from diaspora_notebook.explore.values import decode_value
from diaspora_notebook.filters import Filter, parse_filter

__all__ = ["ExplorerState", "Filter", "GroupInfo", "MessageDetail", "PartitionDetails",
           "ReadResult", "Schema", "TopicDetails", "decode_value", "describe_topic", "export",
           "group_infos", "groups", "load_provenance", "parse_filter", "read", "reset_group",
           "schema"]
