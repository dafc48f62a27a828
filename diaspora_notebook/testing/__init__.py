"""pytest support: real local fabrics, identities, widget comms, a standalone IdP.

Enable every fixture with ``pytest_plugins = ["diaspora_notebook.testing.plugin"]``:

=================  =============================================================================
fixture            what
=================  =============================================================================
``fabric``         one real single-broker fabric per session (:mod:`.plugin`)
``own_fabric``     a factory of fabrics of the test's own, for tests that stop or kill processes
``topic_name``     a fresh topic name per test
``sdk_identity``   a factory of fresh accounts on the session fabric (:mod:`.identities`)
``sdk_client``     a logged-in ``Client`` of a fresh account
``dummy_comm``     widgets without a front end: the comms they open, with what they sent
                   (:mod:`.comm`)
``idp_server``     a factory of standalone identity provider processes (:mod:`.idp`)
``record_issued_secrets``  remembers every secret issued in-process, for log audits
                   (:mod:`.secrets`)
=================  =============================================================================

Helpers: :func:`free_port` (the fabric's own), :func:`.identities.create_identity`,
:mod:`.tokens` (tokens through the unmodified globus-sdk, secrets registry for leak checks).
"""

from __future__ import annotations

from diaspora_notebook.fabric.launcher import free_port

__all__ = ["free_port"]
