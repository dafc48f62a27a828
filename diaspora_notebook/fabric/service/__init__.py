"""The Diaspora web service: topics -> Kafka ACLs, keys -> SCRAM users, sharing between users.

Run it with ``python -m diaspora_notebook.fabric.service --config FILE``; build it in code
with :func:`create_app`.
"""

from __future__ import annotations

from diaspora_notebook.fabric.service.app import create_app
from diaspora_notebook.fabric.service.settings import ServiceSettings, load_settings

__all__ = ["ServiceSettings", "create_app", "load_settings"]
