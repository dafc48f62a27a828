"""diaspora-notebook: the Diaspora Event Fabric from Jupyter.

The original SDK's API, imported lazily so that ``import diaspora_notebook`` needs neither
kafka-python nor a network::

    from diaspora_notebook import Client, KafkaAdmin, KafkaProducer, KafkaConsumer, NewTopic
    from diaspora_notebook import LiveDataFrame   # consumed events as a live pandas frame
    from diaspora_notebook import topics          # register, produce, peek, read, ...

Logging in: ``Client().login()`` (or ``begin_login()`` then ``finish_login(code)``), or
``%load_ext diaspora_notebook`` then ``%diaspora_login`` in a notebook. Every failure is a
:class:`DiasporaError` whose ``hint`` says what to do. Everything else lives in submodules
(``diaspora_notebook.client``, ``.login``, ``.kafka``, ``.stream``, ``.explore``, ``.errors``...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from diaspora_notebook.errors import (
    DiasporaAPIError,
    DiasporaError,
    DiasporaUsageError,
    KafkaConnectionProblem,
    LiveStreamError,
    NotLoggedInError,
    TopicError,
)

__version__ = "0.1.0"

_LAZY = {
    "Client": "diaspora_notebook.client",
    "default_client": "diaspora_notebook.client",
    "KafkaAdmin": "diaspora_notebook.kafka.clients",
    "KafkaProducer": "diaspora_notebook.kafka.clients",
    "KafkaConsumer": "diaspora_notebook.kafka.clients",
    "NewTopic": "diaspora_notebook.kafka.clients",
    "LiveDataFrame": "diaspora_notebook.stream",
}
_LAZY_MODULES = {"topics": "diaspora_notebook.topics"}

__all__ = [  # the original SDK's contract, the toolkit, the error kinds, the Jupyter hooks
    "Client",
    "DiasporaAPIError",
    "DiasporaError",
    "DiasporaUsageError",
    "KafkaAdmin",
    "KafkaConnectionProblem",
    "KafkaConsumer",
    "KafkaProducer",
    "LiveDataFrame",
    "LiveStreamError",
    "NewTopic",
    "NotLoggedInError",
    "TopicError",
    "default_client",
    "load_ipython_extension",
    "topics",
    "unload_ipython_extension",
]

if _TYPE_CHECKING:
    from diaspora_notebook import topics
    from diaspora_notebook.client import Client, default_client
    from diaspora_notebook.kafka.clients import KafkaAdmin, KafkaConsumer, KafkaProducer, NewTopic
    from diaspora_notebook.stream import LiveDataFrame


def __getattr__(name: str) -> _Any:
    import importlib

    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif name in _LAZY_MODULES:
        value = importlib.import_module(_LAZY_MODULES[name])
    else:
        raise AttributeError(f"module 'diaspora_notebook' has no attribute {name!r}")
    globals()[name] = value
    return value


def load_ipython_extension(shell: _Any) -> None:
    """``%load_ext diaspora_notebook``: the magics, settings and error display (lazy import)."""
    from diaspora_notebook.notebook import load_ipython_extension as load

    load(shell)


def unload_ipython_extension(shell: _Any) -> None:
    """``%unload_ext diaspora_notebook``: removes them and closes the clients they made."""
    from diaspora_notebook.notebook import unload_ipython_extension as unload

    unload(shell)


def __dir__() -> list[str]:
    return sorted(set(__all__) | {"__version__"})
