"""Consumer-group names of a topic: ``<topic>/<name>``.

Registering or being granted topic ``T`` allows the consumer groups whose id starts with
``T/``. Kafka topic names cannot contain ``/``, so that prefix belongs to exactly one topic:
the owner of ``X`` gets no access to the groups of ``Xbar`` (``Xbar/readers``), which a bare
``X`` prefix would have matched. The web service writes the same prefix into its group ACLs.
"""

from __future__ import annotations

import re

from diaspora_notebook.errors import DiasporaUsageError

GROUP_SEPARATOR = "/"
MAX_GROUP_NAME_LENGTH = 200
_NAME = re.compile(r"[A-Za-z0-9._-]+")
_NAME_HINT = "use 1-200 characters of a-z A-Z 0-9 . _ - (e.g. 'readers' or 'dashboard-1')"


def group_prefix(topic: str) -> str:
    """The prefix every consumer group of ``topic`` starts with: ``"<topic>/"``."""
    if not isinstance(topic, str) or not topic:
        raise DiasporaUsageError("a consumer group needs a topic name",
                                 hint="pass the topic the group reads, e.g. 'experiment-1'")
    if GROUP_SEPARATOR in topic:
        raise DiasporaUsageError(f"{topic!r} is not a topic name: it contains {GROUP_SEPARATOR!r}",
                                 hint="topic names use a-z A-Z 0-9 . _ - only")
    return topic + GROUP_SEPARATOR


def group_name(topic: str, name: str) -> str:
    """The consumer-group id ``"<topic>/<name>"`` that the topic's owner and grantees may use.

    :param topic: the topic the group consumes
    :param name: the group's own name within the topic, e.g. ``"readers"``
    :raises DiasporaUsageError: if ``name`` is empty, too long or has other characters
    """
    prefix = group_prefix(topic)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DiasporaUsageError(f"invalid consumer group name {str(name)[:80]!r}",
                                 hint=_NAME_HINT)
    if len(name) > MAX_GROUP_NAME_LENGTH:
        raise DiasporaUsageError(
            f"a consumer group name has at most {MAX_GROUP_NAME_LENGTH} characters "
            f"(this one has {len(name)})", hint=_NAME_HINT)
    return prefix + name


def is_group_of(topic: str, group: str) -> bool:
    """Whether the group id ``group`` is one of ``topic``'s groups (``"<topic>/..."``)."""
    prefix = group_prefix(topic)
    return group.startswith(prefix) and len(group) > len(prefix)
