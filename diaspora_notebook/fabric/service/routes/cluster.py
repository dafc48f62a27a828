"""How to reach the Kafka cluster (no secrets)."""

from __future__ import annotations

from fastapi import APIRouter

from diaspora_notebook.fabric.service.auth import Caller
from diaspora_notebook.fabric.service.deps import Settings
from diaspora_notebook.fabric.service.errors import AUTH_RESPONSES
from diaspora_notebook.fabric.service.schemas import ClusterOut

router = APIRouter(prefix="/v1", tags=["cluster"])


@router.get("/cluster", response_model=ClusterOut, responses=AUTH_RESPONSES)
def cluster(caller: Caller, settings: Settings) -> ClusterOut:
    """Bootstrap servers, security protocol, SASL mechanism and the CA certificate."""
    return ClusterOut(bootstrap_servers=list(settings.bootstrap_servers),
                      security_protocol=settings.security_protocol,
                      sasl_mechanism=settings.sasl_mechanism, ca_cert_pem=settings.ca_pem())
