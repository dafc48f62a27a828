"""The toolkit's pytest support: logged-in clients of a real local fabric, widget comms.

It stands beside the toolkit and the fabric, as ``tests/`` does: it joins a toolkit ``Client``
to a running fabric. The fabric and its test support (starting fabrics and identity providers,
accounts, the registry of issued secrets) are the fabric's own
(:mod:`diaspora_notebook.fabric.testing`); this package imports only that, never the fabric's
internals. Enable both plugins in a conftest::

    pytest_plugins = ["diaspora_notebook.fabric.testing.plugin",
                      "diaspora_notebook.testing.plugin"]

=================  =============================================================================
fixture            what
=================  =============================================================================
``sdk_identity``   a factory of fresh accounts on the session ``fabric``, each with a user dir
                   (:mod:`.identities`)
``sdk_client``     a logged-in ``Client`` of a fresh account
``dummy_comm``     widgets without a front end: the comms they open, with what they sent
                   (:mod:`.comm`)
=================  =============================================================================

Helpers: :func:`.identities.create_identity`, :mod:`.tokens` (tokens through the unmodified
globus-sdk).
"""
