"""One small module per magic (or group): each turns parsed options into calls of the plain API
and returns something to display. ``magics.py`` only parses lines and routes here.

* ``context``: the ``Diaspora`` settings (``%config Diaspora.<trait>``) and the client.
* ``login``: login / logout / whoami, and the login link through jupyter-server-proxy.
* ``topics``: topic list, register / unregister (+ create / delete on the brokers).
* ``key``: the Kafka key and connection details (password masked unless revealed).
* ``produce``, ``peek``, ``stream``: messages in and out.
* ``kafka_ops``: the broker-side helpers the commands and widgets share.
"""
