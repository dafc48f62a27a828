"""The fabric's own test support: real local fabrics and identity providers, issued secrets.

Enable its fixtures with ``pytest_plugins = ["diaspora_notebook.fabric.testing.plugin"]``
(the toolkit's :mod:`diaspora_notebook.testing.plugin` adds logged-in clients on top):

=========================  =======================================================================
fixture                    what
=========================  =======================================================================
``fabric``                 one real single-broker fabric per session (:mod:`.plugin`)
``own_fabric``             a factory of fabrics of the test's own, for tests that stop or kill
                           processes
``topic_name``             a fresh topic name per test
``idp_server``             a factory of standalone identity provider processes (:mod:`.idp`)
``record_issued_secrets``  remembers every secret issued in-process, for log audits
                           (:mod:`.secrets`)
=========================  =======================================================================

Helpers: :func:`free_port`, :func:`.accounts.add_account` and
:func:`.accounts.new_confidential_client` (accounts of the fabric's IdP), :mod:`.secrets` (the
registry of issued secrets and the audit of the fabric's logs). Like the rest of the fabric, it
imports nothing of the toolkit but :mod:`diaspora_notebook.naming`.
"""

from __future__ import annotations

from diaspora_notebook.fabric.launcher import free_port

__all__ = ["free_port"]
