"""The Kafka key cache: one 0600 JSON file per environment and identity, in a 0700 directory.

``Client.create_key`` writes it, ``retrieve_key`` and the Kafka wrappers read it (so building
a producer after login needs no service call), and ``logout`` deletes it.
:func:`cached_passwords` lists every cached password of a user dir (for leak checks).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from diaspora_notebook.config import ensure_private_dir

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_FIELDS = ("username", "password", "endpoint")
KEYS_DIR = "keys"


def _safe(part: str) -> str:
    return _UNSAFE.sub("_", part)[:100] or "_"


def keys_dir(user_dir: Path) -> Path:
    """The key cache's directory in ``user_dir``."""
    return Path(user_dir) / KEYS_DIR


def cached_passwords(user_dir: Path) -> set[str]:
    """Every Kafka password cached in ``user_dir`` (any environment or identity); read-only."""
    found: set[str] = set()
    directory = keys_dir(user_dir)
    for path in directory.glob("*.json") if directory.is_dir() else ():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            password = json.loads(path.read_text()).get("password")
            if password:
                found.add(str(password))
    return found


class KeyCache:
    """The cached key of one identity in one environment.

    :param user_dir: the toolkit's user dir (``~/.diaspora`` or ``DIASPORA_USER_DIR``).
    :param environment: the environment's unique name (``Environment.globus_environment``).
    :param identity: the identity id the key belongs to.
    """

    def __init__(self, user_dir: Path, environment: str, identity: str) -> None:
        self.directory = keys_dir(user_dir)
        self.path = self.directory / f"{_safe(environment)}__{_safe(identity)}.json"
        self.identity = identity

    def get(self) -> dict[str, str] | None:
        """The cached key (``username``, ``password``, ``endpoint``), or None."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("ignoring unreadable key cache %s", self.path)
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(f), str) for f in _FIELDS):
            return None
        if data["username"] != self.identity:
            return None
        return {f: data[f] for f in _FIELDS}

    def put(self, key: dict[str, Any]) -> None:
        """Replace the cached key (atomically, 0600)."""
        record = {f: str(key[f]) for f in _FIELDS}
        record["created"] = str(int(time.time()))
        ensure_private_dir(self.directory.parent)
        ensure_private_dir(self.directory)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{self.path.name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(record, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def clear(self) -> bool:
        """Delete the cached key; True if there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True
