"""Names in requests, checked before anything reaches the broker (topic names by the shared
rules of :mod:`diaspora_notebook.naming`)."""

from __future__ import annotations

import re
import uuid

from diaspora_notebook.fabric.service.errors import ServiceError
from diaspora_notebook.naming import TOPIC_NAME_HINT, v1_topic_name_problem

_IDENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


def validate_topic(name: str | None) -> str:
    """Return ``name`` if it is a legal topic name, else raise a 400 that names the rule."""
    if name is None or name == "":
        raise ServiceError(400, "missing_topic", "no topic given",
                           hint="send the topic in a Topic header or a JSON body {\"topic\": ...}")
    problem = v1_topic_name_problem(name)
    if problem:
        raise ServiceError(400, "invalid_topic_name", problem,
                           hint=TOPIC_NAME_HINT)
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
