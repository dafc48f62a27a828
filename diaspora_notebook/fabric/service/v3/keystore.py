"""The IAM key store: access keys the v3 API issues, in one JSON file the broker plugin reads.

Format (``/work/coord/keystore_format.md``; docs/fabric.md)::

    {"version": 1, "keys": {"AKIA...": {"secret": "...", "principal": "User:<sub>",
                                          "subject": "<sub>", "namespace": "ns-...",
                                          "created": "<ISO-8601>"}}}

The file is 0600 and replaced atomically (a private temporary file in the same directory,
fsync, ``os.replace``), so a reader sees a complete old or new version. Writers are serialized
by a lock in the process and an ``flock`` on ``<file>.lock`` (the CLI's ``user remove`` writes
too). The principal is the account's v1 principal, so its ACLs apply to IAM connections.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import string
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from diaspora_notebook.fabric.service.acls import principal_of
from diaspora_notebook.naming import namespace_of

FORMAT_VERSION = 1
FILE_NAME = "iam-keys.json"
_AKID_ALPHABET = string.ascii_uppercase[:26] + "234567"  # base32, as AWS key ids
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class IamKey:
    """One issued access key."""

    access_key: str
    secret_key: str
    subject: str
    created: str

    @property
    def principal(self) -> str:
        return principal_of(self.subject)


def new_access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(_AKID_ALPHABET) for _ in range(16))


def new_secret() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


class KeyStore:
    """The key store file: at most one key per subject."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    # -- file access ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        keys = data.get("keys") if isinstance(data, dict) else None
        return {k: v for k, v in (keys or {}).items() if isinstance(v, dict)}

    def _write(self, keys: dict[str, dict[str, Any]]) -> None:
        text = json.dumps({"version": FORMAT_VERSION, "keys": keys}, indent=1, sort_keys=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp-{secrets.token_hex(6)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    # -- keys -----------------------------------------------------------------------------

    @staticmethod
    def _key(akid: str, entry: dict[str, Any]) -> IamKey:
        return IamKey(akid, str(entry.get("secret", "")), str(entry.get("subject", "")),
                      str(entry.get("created", "")))

    def key_of(self, subject: str) -> IamKey | None:
        """The subject's key, or None."""
        with self._locked():
            for akid, entry in self._read().items():
                if entry.get("subject") == subject:
                    return self._key(akid, entry)
        return None

    def lookup(self, access_key: str) -> IamKey | None:
        """The key with this access key id (what the broker plugin does), or None."""
        with self._locked():
            entry = self._read().get(access_key)
        return self._key(access_key, entry) if entry else None

    def get_or_create(self, subject: str) -> tuple[IamKey, bool]:
        """The subject's key, creating one if it has none; ``(key, created)``."""
        with self._locked():
            keys = self._read()
            for akid, entry in keys.items():
                if entry.get("subject") == subject:
                    return self._key(akid, entry), False
            akid = new_access_key_id()
            while akid in keys:
                akid = new_access_key_id()
            created = datetime.now(timezone.utc).isoformat()
            keys[akid] = {"secret": new_secret(), "principal": principal_of(subject),
                          "subject": subject, "namespace": namespace_of(subject),
                          "created": created}
            self._write(keys)
            return self._key(akid, keys[akid]), True

    def delete(self, subject: str) -> int:
        """Remove every key of ``subject``; returns how many there were."""
        with self._locked():
            keys = self._read()
            mine = [akid for akid, entry in keys.items() if entry.get("subject") == subject]
            if mine:
                for akid in mine:
                    del keys[akid]
                self._write(keys)
            return len(mine)
