"""diaspora-notebook: the Diaspora Event Fabric from Jupyter.

The original SDK's API, imported lazily so that ``import diaspora_notebook`` needs neither
kafka-python nor a network::

    from diaspora_notebook import Client, KafkaAdmin, KafkaProducer, KafkaConsumer, NewTopic
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaError

__version__ = "0.1.0"

_LAZY = {
    "Client": "diaspora_notebook.client",
    "default_client": "diaspora_notebook.client",
    "Environment": "diaspora_notebook.environments",
    "KafkaAdmin": "diaspora_notebook.kafka",
    "KafkaProducer": "diaspora_notebook.kafka",
    "KafkaConsumer": "diaspora_notebook.kafka",
    "NewTopic": "diaspora_notebook.kafka",
}

__all__ = ["Client", "DiasporaError", "Environment", "KafkaAdmin", "KafkaConsumer",
           "KafkaProducer", "NewTopic", "default_client"]

if TYPE_CHECKING:
    from diaspora_notebook.client import Client, default_client
    from diaspora_notebook.environments import Environment
    from diaspora_notebook.kafka import KafkaAdmin, KafkaConsumer, KafkaProducer, NewTopic


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'diaspora_notebook' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
