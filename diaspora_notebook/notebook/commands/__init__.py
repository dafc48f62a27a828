"""One small module per magic (or group): each turns parsed options into one call of the plain
API and returns something to display. ``magics.py`` only parses lines and routes here. Commands
may import widgets; widgets never import commands.

* ``login``: login / logout / whoami (the login link: :mod:`..links`).
* ``topics``: topic list, register / unregister (+ create / delete on the brokers).
* ``key``: the Kafka key and connection details (password masked unless revealed).
* ``produce``, ``peek``, ``stream``: messages in and out.

Topic and message logic lives in the core (:mod:`diaspora_notebook.topics`), not here.
"""
