"""Kafka's topic-name rules, checked before anything reaches the broker."""

from __future__ import annotations

import re
import uuid

from diaspora_notebook.fabric.service.errors import ServiceError

MAX_TOPIC_LENGTH = 249
_LEGAL = re.compile(r"[a-zA-Z0-9._-]+")
_IDENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


def topic_name_problem(name: str) -> str | None:
    """The rule ``name`` breaks, or None if Kafka (and this service) accept it."""
    if not name:
        return "a topic name must not be empty"
    if len(name) > MAX_TOPIC_LENGTH:
        return f"a topic name is at most {MAX_TOPIC_LENGTH} characters (this one has {len(name)})"
    if name in (".", ".."):
        return "a topic name cannot be '.' or '..'"
    if not _LEGAL.fullmatch(name):
        bad = sorted({c for c in name if not _LEGAL.fullmatch(c)})
        shown = "".join(bad[:10])
        return f"a topic name may only contain a-z, A-Z, 0-9, '.', '_' and '-' (not {shown!r})"
    if name.startswith("__"):
        return "topic names starting with '__' are reserved for Kafka's internal topics"
    return None


def validate_topic(name: str | None) -> str:
    """Return ``name`` if it is a legal topic name, else raise a 400 that names the rule."""
    if name is None or name == "":
        raise ServiceError(400, "missing_topic", "no topic given",
                           hint="send the topic in a Topic header or a JSON body {\"topic\": ...}")
    problem = topic_name_problem(name)
    if problem:
        raise ServiceError(400, "invalid_topic_name", problem,
                           hint="use 1-249 characters of a-z A-Z 0-9 . _ - , not starting with __")
    return name


def validate_identity_id(value: str | None) -> str:
    """Return the canonical lower-case UUID of another identity, else raise a 400."""
    if value is None or value.strip() == "":
        raise ServiceError(400, "missing_user", "no user given",
                           hint="send the other identity's id in a User header or JSON body")
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ServiceError(
            400, "invalid_user", "the user must be an identity id (a UUID)",
            hint="resolve usernames to identity ids with Globus Auth first") from None


def is_safe_principal(sub: str) -> bool:
    """Whether a token subject can be used as a Kafka principal and SCRAM user name."""
    return bool(_IDENTITY.fullmatch(sub))
