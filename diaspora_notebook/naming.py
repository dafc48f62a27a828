"""Naming rules both sides read: topic names and consumer-group names.

The one module the toolkit and the fabric share (an import-linter contract says so). It
imports nothing of either: a broken rule is a :class:`NameRuleError` (a ``ValueError`` with a
``hint``), and each side turns it into its own error type (the toolkit a usage error, the web
service a 400 naming the rule).

Topics follow Kafka's rules (:func:`topic_name_problem`). The consumer groups of topic ``T``
are named ``T/<name>``: registering or being granted ``T`` allows the groups whose id starts
with ``T/`` (the service writes that prefix into its GROUP PREFIXED ACLs). Kafka topic names
cannot contain ``/``, so that prefix belongs to exactly one topic: the owner of ``X`` gets no
access to the groups of ``Xbar`` (``Xbar/readers``), which a bare ``X`` prefix would match.
Only the owner holds the whole ``T/`` prefix. A grantee's groups are ``T/<grantee id>/<name>``
(:func:`member_group_prefix`): a grant gives the prefix ``T/<grantee id>/`` alone, so a
grantee never describes, resets, commits to or deletes the owner's groups (``T/<name>``: a
group name has no ``/``) or another grantee's.

The v3 API (the hosted Diaspora service, diaspora-event-sdk 0.5.1) names things differently:
every user owns the namespace ``ns-<last 12 hex digits of the subject>``
(:func:`namespace_of`), topics inside it have short names (:func:`v3_name_problem`: 3-32
characters of a-z A-Z 0-9 _ -, so never a ``.``), Kafka names them ``<namespace>.<topic>``
(:func:`v3_kafka_topic`) and the consumer groups of the consumer REST API are
``<namespace>.<group>`` (:func:`v3_kafka_group`). A v1 topic name can never be such a name:
:func:`v1_topic_name_problem` reserves every name whose part before the first ``.`` starts with
``ns-`` (:func:`is_namespaced`), so a v1 topic (or its ``<topic>/`` groups) never falls under
a namespace's PREFIXED ``<namespace>.`` ACLs, and v1 and v3 names never collide.
"""

from __future__ import annotations

import re

# --- topics -----------------------------------------------------------------------------------

MAX_TOPIC_LENGTH = 249
TOPIC_NAME_HINT = "use 1-249 characters of a-z A-Z 0-9 . _ - , not starting with __"
_TOPIC = re.compile(r"[a-zA-Z0-9._-]+")

# --- consumer groups --------------------------------------------------------------------------

GROUP_SEPARATOR = "/"
MAX_GROUP_NAME_LENGTH = 200
GROUP_NAME_HINT = "use 1-200 characters of a-z A-Z 0-9 . _ - (e.g. 'readers' or 'dashboard-1')"
_GROUP_NAME = re.compile(r"[A-Za-z0-9._-]+")


class NameRuleError(ValueError):
    """A name breaks a naming rule; ``str(err)`` says which, ``hint`` what is allowed."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def topic_name_problem(name: str) -> str | None:
    """The rule ``name`` breaks, or None if Kafka (and the web service) accept it."""
    if not name:
        return "a topic name must not be empty"
    if len(name) > MAX_TOPIC_LENGTH:
        return f"a topic name is at most {MAX_TOPIC_LENGTH} characters (this one has {len(name)})"
    if name in (".", ".."):
        return "a topic name cannot be '.' or '..'"
    if not _TOPIC.fullmatch(name):
        bad = sorted({c for c in name if not _TOPIC.fullmatch(c)})
        shown = "".join(bad[:10])
        return f"a topic name may only contain a-z, A-Z, 0-9, '.', '_' and '-' (not {shown!r})"
    if name.startswith("__"):
        return "topic names starting with '__' are reserved for Kafka's internal topics"
    return None


def group_prefix(topic: str) -> str:
    """The prefix every consumer group of ``topic`` starts with: ``"<topic>/"``.

    :raises NameRuleError: if ``topic`` is empty or contains the separator
    """
    if not isinstance(topic, str) or not topic:
        raise NameRuleError("a consumer group needs a topic name",
                            hint="pass the topic the group reads, e.g. 'experiment-1'")
    if GROUP_SEPARATOR in topic:
        raise NameRuleError(f"{topic!r} is not a topic name: it contains {GROUP_SEPARATOR!r}",
                            hint="topic names use a-z A-Z 0-9 . _ - only")
    return topic + GROUP_SEPARATOR


def member_group_prefix(topic: str, member: str) -> str:
    """The prefix of the consumer groups a grantee ``member`` (an identity id) may use on
    ``topic``: ``"<topic>/<member>/"``.

    :raises NameRuleError: if ``topic`` is no topic name or ``member`` no identity id
    """
    prefix = group_prefix(topic)
    if not isinstance(member, str) or not _GROUP_NAME.fullmatch(member) \
            or len(member) > MAX_GROUP_NAME_LENGTH:
        raise NameRuleError(f"{str(member)[:80]!r} is not an identity id",
                            hint="a grantee's groups are '<topic>/<identity id>/<name>'")
    return prefix + member + GROUP_SEPARATOR


def group_name(topic: str, name: str, member: str | None = None) -> str:
    """The consumer-group id of ``name`` on ``topic``: ``"<topic>/<name>"`` for the topic's
    owner, ``"<topic>/<member>/<name>"`` for a grantee ``member`` (an identity id).

    :param topic: the topic the group consumes
    :param name: the group's own name within the topic, e.g. ``"readers"``
    :param member: the grantee's identity id (``None``: the owner's group)
    :raises NameRuleError: if ``name`` is empty, too long or has other characters
    """
    prefix = group_prefix(topic) if member is None else member_group_prefix(topic, member)
    if not isinstance(name, str) or not _GROUP_NAME.fullmatch(name):
        raise NameRuleError(f"invalid consumer group name {str(name)[:80]!r}",
                            hint=GROUP_NAME_HINT)
    if len(name) > MAX_GROUP_NAME_LENGTH:
        raise NameRuleError(
            f"a consumer group name has at most {MAX_GROUP_NAME_LENGTH} characters "
            f"(this one has {len(name)})", hint=GROUP_NAME_HINT)
    return prefix + name


def is_group_of(topic: str, group: str) -> bool:
    """Whether the group id ``group`` is one of ``topic``'s groups (``"<topic>/..."``).

    :raises NameRuleError: if ``topic`` is no topic name (see :func:`group_prefix`)
    """
    prefix = group_prefix(topic)
    return group.startswith(prefix) and len(group) > len(prefix)


# --- v3 namespaces (the hosted service's API) -------------------------------------------------

NAMESPACE_PREFIX = "ns-"
NAMESPACE_SEPARATOR = "."
V3_NAME_MIN, V3_NAME_MAX = 3, 32
V3_NAME_HINT = ("use 3-32 characters of a-z A-Z 0-9 _ -, not starting or ending with - or _ "
                "(e.g. 'experiment-1')")
_V3_NAME = re.compile(r"[a-zA-Z0-9_-]+")


def namespace_of(subject: str) -> str:
    """The default namespace of a subject: ``ns-`` + the last 12 hex digits (dashes dropped),
    exactly as diaspora-event-sdk 0.5.1 computes ``Client.namespace``."""
    return NAMESPACE_PREFIX + subject.replace("-", "")[-12:]


def v3_name_problem(name: str) -> str | None:
    """The rule a v3 topic or namespace name breaks (the hosted service's wording), or None."""
    if not isinstance(name, str) or not V3_NAME_MIN <= len(name) <= V3_NAME_MAX:
        return f"Name must be between {V3_NAME_MIN} and {V3_NAME_MAX} characters"
    if not _V3_NAME.fullmatch(name):
        return "Name can only contain letters, numbers, dash, and underscore"
    if name[0] in "-_" or name[-1] in "-_":
        return "Name cannot start or end with hyphen or underscore"
    return None


def v3_kafka_topic(namespace: str, topic: str) -> str:
    """The Kafka topic of v3 ``topic`` in ``namespace``: ``<namespace>.<topic>``."""
    return namespace + NAMESPACE_SEPARATOR + topic


def v3_kafka_group(namespace: str, group: str) -> str:
    """The Kafka consumer group of v3 ``group`` in ``namespace``: ``<namespace>.<group>``."""
    return namespace + NAMESPACE_SEPARATOR + group


def namespace_prefix(namespace: str) -> str:
    """The prefix of every Kafka topic and group of ``namespace``: ``<namespace>.``."""
    return namespace + NAMESPACE_SEPARATOR


def split_v3_kafka_topic(kafka_name: str) -> tuple[str, str] | None:
    """``(namespace, topic)`` of a v3 Kafka topic name, or None if it is no such name."""
    namespace, sep, topic = kafka_name.partition(NAMESPACE_SEPARATOR)
    if not sep or not namespace.startswith(NAMESPACE_PREFIX) or v3_name_problem(topic):
        return None
    return namespace, topic


def is_namespaced(kafka_name: str) -> bool:
    """Whether a Kafka topic or group name lies in v3's namespaced space (``ns-….…``)."""
    head, sep, _rest = kafka_name.partition(NAMESPACE_SEPARATOR)
    return bool(sep) and head.startswith(NAMESPACE_PREFIX)


def v1_topic_name_problem(name: str) -> str | None:
    """:func:`topic_name_problem` plus the v1 API's reservation of v3's namespaced names."""
    problem = topic_name_problem(name)
    if problem is None and is_namespaced(name):
        return ("names of the form 'ns-….<topic>' are reserved for v3 namespaces "
                "(the part before the first '.' must not start with 'ns-')")
    return problem
