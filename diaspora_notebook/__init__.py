"""diaspora-notebook: the Diaspora Event Fabric from Jupyter.

The original SDK's API, imported lazily so that ``import diaspora_notebook`` needs neither
kafka-python nor a network::

    from diaspora_notebook import Client, KafkaAdmin, KafkaProducer, KafkaConsumer, NewTopic
    from diaspora_notebook import LiveDataFrame   # consumed events as a live pandas frame
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
    "NotebookLogin": "diaspora_notebook.client",
    "LiveDataFrame": "diaspora_notebook.stream",
}

__all__ = ["Client", "DiasporaError", "Environment", "KafkaAdmin", "KafkaConsumer",
           "KafkaProducer", "LiveDataFrame", "NewTopic", "NotebookLogin", "default_client",
           "load_ipython_extension", "unload_ipython_extension"]

if TYPE_CHECKING:
    from diaspora_notebook.client import Client, NotebookLogin, default_client
    from diaspora_notebook.environments import Environment
    from diaspora_notebook.kafka import KafkaAdmin, KafkaConsumer, KafkaProducer, NewTopic
    from diaspora_notebook.stream import LiveDataFrame


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'diaspora_notebook' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext diaspora_notebook``: the magics, settings and error display (lazy import)."""
    from diaspora_notebook.notebook import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell: Any) -> None:
    """``%unload_ext diaspora_notebook``."""
    from diaspora_notebook.notebook import unload_ipython_extension as unload

    unload(shell)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
