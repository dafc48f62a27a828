"""Keys: a fresh SCRAM password for the caller, shown once."""

from __future__ import annotations

from fastapi import APIRouter

from diaspora_notebook.fabric.service.auth import Caller
from diaspora_notebook.fabric.service.deps import Keys, Settings
from diaspora_notebook.fabric.service.errors import AUTH_RESPONSES
from diaspora_notebook.fabric.service.schemas import KeyOut

router = APIRouter(prefix="/v1", tags=["keys"])


@router.post("/create_key", response_model=KeyOut, responses=AUTH_RESPONSES)
def create_key(caller: Caller, keys: Keys, settings: Settings) -> KeyOut:
    """Replace the caller's Kafka password; the previous one stops working."""
    password = keys.rotate(caller.id)
    return KeyOut(username=caller.id, password=password,
                  endpoint=",".join(settings.bootstrap_servers))
