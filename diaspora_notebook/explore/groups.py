"""Consumer groups of a topic: who reads it, how far they got (lag), and moving a group.

Only groups named ``<topic>/<name>`` (:mod:`diaspora_notebook.naming`) are shown: the broker lists
just the groups your ACLs let you describe, and the prefix keeps another topic's groups (and the
broker's own) out even where an ACL would let them through. The owner of a topic uses every
``<topic>/...`` group; a grantee only its own, ``<topic>/<grantee id>/<name>``
(:func:`group_name` with ``member=`` or ``client=``), so a grantee sees and moves none of the
owner's groups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from diaspora_notebook import naming
from diaspora_notebook.errors import DiasporaError, DiasporaUsageError
from diaspora_notebook.kafka.connections import admin, client_or_default
from diaspora_notebook.kafka.connections import consumer as plain_consumer
from diaspora_notebook.kafka.errors import denied, partition_count, translated
from diaspora_notebook.kafka.start import as_millis

if TYPE_CHECKING:
    import pandas as pd

    from diaspora_notebook.client import Client
    from diaspora_notebook.errors import KafkaAccessDeniedError
    from diaspora_notebook.kafka.clients import KafkaAdmin

GROUP_COLUMNS = ("group", "state", "members", "partition", "committed", "end", "lag")
GROUP_SEPARATOR = naming.GROUP_SEPARATOR
_T = TypeVar("_T")


def _named(rule: Callable[..., _T], *args: str) -> _T:
    """``rule(*args)`` of :mod:`diaspora_notebook.naming`, a broken rule as a usage error."""
    try:
        return rule(*args)
    except naming.NameRuleError as err:
        raise DiasporaUsageError(str(err), hint=err.hint) from None


def group_prefix(topic: str) -> str:
    """The prefix every consumer group of ``topic`` starts with: ``"<topic>/"``."""
    return _named(naming.group_prefix, topic)


def group_name(topic: str, name: str, member: str | None = None, *,
               client: Client | None = None) -> str:
    """The consumer-group id of ``name`` on ``topic``: ``"<topic>/<name>"`` for the topic's
    owner, ``"<topic>/<member>/<name>"`` for a grantee (``member``: its identity id).

    :param client: find out who you are on ``topic`` (one call to the web service): the
        owner's form if you own it, else the grantee's with your identity id
    :raises DiasporaUsageError: if ``name`` is empty, too long or has other characters
    """
    if member is None and client is not None:
        member = grantee_id(topic, client=client)
    return _named(naming.group_name, topic, name, *(() if member is None else (member,)))


def grantee_id(topic: str, *, client: Client | None = None) -> str | None:
    """Your identity id when you use ``topic`` as a grantee (your groups are then
    ``<topic>/<id>/...``), ``None`` when you own it."""
    from diaspora_notebook.errors import AccessDeniedError

    group_prefix(topic)
    client = client_or_default(client)
    try:
        client.list_topic_users(topic)  # answered to the owner only
    except AccessDeniedError:
        return client.subject_openid
    return None


def _not_yours(topic: str, group: str, what: str) -> KafkaAccessDeniedError:
    err = denied(topic, what)
    err.hint = (f"a grantee of {topic!r} may use only its own groups, "
                f"'{topic}/<your identity id>/<name>' (group_name({topic!r}, 'name', "
                "client=...)); the owner's groups and other grantees' are not yours to move")
    return err


def is_group_of(topic: str, group: str) -> bool:
    """Whether the group id ``group`` is one of ``topic``'s groups (``"<topic>/..."``)."""
    return _named(naming.is_group_of, topic, group)


@dataclass(frozen=True)
class GroupInfo:
    """One consumer group of a topic.

    :ivar committed: ``{partition: offset}`` the group has committed (absent: never)
    :ivar lag: ``{partition: end - committed}`` (the whole partition when never committed)
    """

    group: str
    state: str
    members: tuple[str, ...] = ()
    committed: dict[int, int] = field(default_factory=dict)
    end: dict[int, int] = field(default_factory=dict)
    lag: dict[int, int] = field(default_factory=dict)

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())


def _partition_count(adm: KafkaAdmin, topic: str, what: str) -> int:
    with translated(topic, what):
        described = {d["name"]: d for d in adm.describe_topics([topic])}
    return partition_count(described.get(topic), topic, what)


def group_infos(topic: str, *, client: Client | None = None) -> list[GroupInfo]:
    """The consumer groups of ``topic`` you may see, with members, offsets and lag."""
    group_prefix(topic)  # a usage error for a bad name before any connection
    client = client_or_default(client)
    with admin(client) as adm:
        count = _partition_count(adm, topic, "describe the groups of")
        with translated(topic, "list the groups of"):
            listed = [g["group_id"] for g in adm.list_groups()
                      if is_group_of(topic, g["group_id"])]
            described = adm.describe_groups(listed) if listed else {}
            offsets = adm.list_group_offsets(listed) if listed else {}
    ends = _ends(plain_consumer, client, topic, count)
    infos = []
    for gid in sorted(listed):
        desc = described.get(gid) or {}
        committed = {tp.partition: int(om.offset) for tp, om in (offsets.get(gid) or {}).items()
                     if tp.topic == topic and om.offset >= 0}
        lag = {p: max(ends[p] - committed.get(p, 0), 0) for p in ends}
        members = tuple(m.get("client_id") or m.get("member_id") or "?"
                        for m in desc.get("members") or ())
        infos.append(GroupInfo(gid, str(desc.get("group_state") or "Unknown"), members,
                               committed, dict(ends), lag))
    return infos


def _ends(make_consumer: Any, client: Client, topic: str, count: int) -> dict[int, int]:
    from kafka import TopicPartition

    parts = [TopicPartition(topic, p) for p in range(count)]
    with make_consumer(client) as con, translated(topic, "read offsets of"):
        got = con.end_offsets(parts)
    return {tp.partition: int(off) for tp, off in got.items()}


def groups(topic: str, *, client: Client | None = None) -> pd.DataFrame:
    """``topic``'s consumer groups as a DataFrame, one row per group and partition
    (columns :data:`GROUP_COLUMNS`; ``committed`` is missing where the group never committed).
    """
    import pandas as pd

    rows = [{"group": g.group, "state": g.state, "members": len(g.members), "partition": p,
             "committed": g.committed.get(p), "end": end, "lag": g.lag[p]}
            for g in group_infos(topic, client=client) for p, end in sorted(g.end.items())]
    frame: pd.DataFrame = pd.DataFrame(rows, columns=list(GROUP_COLUMNS))
    frame["committed"] = frame["committed"].astype("Int64")
    return frame


def reset_group(group: str, to: Any = "earliest", *, client: Client | None = None
                ) -> dict[int, int]:
    """Move ``group``'s committed offsets (``"<topic>/<name>"``) to ``to``.

    :param to: ``"earliest"``, ``"latest"``, an offset (every partition), ``{partition: offset}``
        or a time (the first offset at or after it)
    :returns: the new ``{partition: offset}``
    :raises DiasporaError: the group has members (stop its consumers first)
    """
    from kafka import TopicPartition
    from kafka.errors import GroupAuthorizationFailedError
    from kafka.structs import OffsetAndMetadata

    topic = _topic_of(group)
    client = client_or_default(client)
    with admin(client) as adm:
        count = _partition_count(adm, topic, "reset a group of")
        with translated(topic, "describe the group"):
            try:
                desc = (adm.describe_groups([group]) or {}).get(group) or {}
            except GroupAuthorizationFailedError:
                raise _not_yours(topic, group, f"describe group {group!r} of") from None
        if "Authorization" in str(desc.get("error") or ""):
            raise _not_yours(topic, group, f"describe group {group!r} of")
        if desc.get("members"):
            raise DiasporaError(
                f"group {group!r} has {len(desc['members'])} active member(s); a group is "
                "reset only while nobody consumes with it",
                hint="stop (close) its consumers, wait for the session to end, and retry")
        parts = [TopicPartition(topic, p) for p in range(count)]
        with plain_consumer(client) as con, translated(topic, "read offsets of"):
            target = _targets(con, parts, to)
        with translated(topic, "reset the group"):
            try:
                errors = adm.alter_group_offsets(
                    group, {tp: OffsetAndMetadata(off, "", -1) for tp, off in target.items()})
            except GroupAuthorizationFailedError:
                raise _not_yours(topic, group, f"reset group {group!r} of") from None
    bad = {tp.partition: err for tp, err in (errors or {}).items()
           if getattr(err, "__name__", "NoError") != "NoError"}
    if bad:
        if any("Authorization" in getattr(e, "__name__", "") for e in bad.values()):
            raise _not_yours(topic, group, f"reset group {group!r} of")
        raise DiasporaError(f"the broker refused to reset {group!r}: "
                            + ", ".join(f"partition {p}: {e.__name__}" for p, e in bad.items()),
                            hint="stop its consumers and retry")
    return {tp.partition: off for tp, off in target.items()}


def _topic_of(group: str) -> str:
    if not isinstance(group, str) or GROUP_SEPARATOR not in group.strip(GROUP_SEPARATOR):
        raise DiasporaUsageError(f"{group!r} is not a group of a topic",
                                 hint="groups are named '<topic>/<name>', e.g. 'exp-1/readers'")
    topic = group.split(GROUP_SEPARATOR, 1)[0]
    if not is_group_of(topic, group):
        raise DiasporaUsageError(f"{group!r} is not a group of a topic",
                                 hint="groups are named '<topic>/<name>'")
    return topic


def _targets(con: Any, parts: list[Any], to: Any) -> dict[Any, int]:
    begin, end = con.beginning_offsets(parts), con.end_offsets(parts)
    if isinstance(to, bool):
        raise DiasporaUsageError(f"invalid reset target {to!r}",
                                 hint="to='earliest', 'latest', an offset or a time")
    if to == "earliest":
        return {tp: int(begin[tp]) for tp in parts}
    if to == "latest":
        return {tp: int(end[tp]) for tp in parts}
    if isinstance(to, int):
        return {tp: min(max(to, begin[tp]), end[tp]) for tp in parts}
    if isinstance(to, dict):
        return {tp: min(max(int(to[tp.partition]), begin[tp]), end[tp]) for tp in parts
                if tp.partition in to}
    ms = as_millis(to)
    if ms is None:
        raise DiasporaUsageError(f"invalid reset target {to!r}",
                                 hint="to='earliest', 'latest', an offset, {partition: offset} "
                                 "or a time")
    found = con.offsets_for_times({tp: ms for tp in parts})
    return {tp: int(found[tp].offset) if found.get(tp) is not None else int(end[tp])
            for tp in parts}
