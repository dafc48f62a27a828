"""The toolkit's pytest fixtures (see :mod:`diaspora_notebook.testing`).

Enable with ``pytest_plugins = ["diaspora_notebook.fabric.testing.plugin",
"diaspora_notebook.testing.plugin"]`` in a conftest: the fabric's plugin provides the
``fabric`` these fixtures log in to.
"""

from __future__ import annotations

from diaspora_notebook.testing.comm import dummy_comm
from diaspora_notebook.testing.identities import sdk_client, sdk_identity

__all__ = ["dummy_comm", "sdk_client", "sdk_identity"]
