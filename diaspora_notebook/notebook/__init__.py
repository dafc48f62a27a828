"""The Jupyter face of diaspora-notebook: ``%load_ext diaspora_notebook``.

This package is the only one that imports IPython and ipywidgets; the magics and widgets call
the plain API (:class:`~diaspora_notebook.client.Client` and friends). Loading the extension:

* registers the ``%diaspora_*`` magics (idempotent: loading twice changes nothing);
* adds the ``Diaspora`` settings to ``shell.configurables`` (``%config Diaspora``);
* makes Diaspora errors print one line without a traceback while still failing the cell;
* gives ``Client`` an HTML view in notebooks.

Unloading removes all of it and closes the clients the magics made for named environments.
"""

from __future__ import annotations

from typing import Any

from diaspora_notebook.notebook.configurable import EXTENSION_STATE as _STATE_ATTR
from diaspora_notebook.notebook.configurable import loaded_settings as settings


def load_ipython_extension(shell: Any) -> None:
    """Called by ``%load_ext diaspora_notebook``."""
    if getattr(shell, _STATE_ATTR, None) is not None:
        return
    from diaspora_notebook.client import Client
    from diaspora_notebook.login.flows import use_widget_login
    from diaspora_notebook.notebook import errors
    from diaspora_notebook.notebook.commands.login import WIDGET_LOGIN_HINT
    from diaspora_notebook.notebook.configurable import Diaspora
    from diaspora_notebook.notebook.html import client_html
    from diaspora_notebook.notebook.magics import DiasporaMagics
    from diaspora_notebook.notebook.widgets.live import register_views

    settings = Diaspora(parent=shell)
    # a kernel that shows the login widget never waits on an input() prompt for a login
    use_widget_login(lambda: WIDGET_LOGIN_HINT if settings.widget else None)
    magics = DiasporaMagics(shell, settings)
    shell.register_magics(magics)
    shell.configurables.append(settings)
    errors.install(shell)
    register_views()  # LiveDataFrame.view()/plot()/display find the widgets through stream.views
    from diaspora_notebook.notebook.widgets.chart import register_chart

    register_chart()  # plot() with bqplot where it is installed
    html = shell.display_formatter.formatters["text/html"]
    previous = html.for_type(Client, client_html)
    setattr(shell, _STATE_ATTR, {"settings": settings, "magics": magics,
                                 "previous_html": previous})


def unload_ipython_extension(shell: Any) -> None:
    """Called by ``%unload_ext diaspora_notebook``: remove what loading added."""
    state = getattr(shell, _STATE_ATTR, None)
    if state is None:
        return
    from diaspora_notebook.client import Client
    from diaspora_notebook.notebook import errors

    magics = state["magics"]
    for kind, names in magics.magics.items():
        table = shell.magics_manager.magics[kind]
        for name in names:
            if table.get(name) is not None and getattr(table[name], "__self__", None) is magics:
                del table[name]
    shell.magics_manager.registry.pop(type(magics).__name__, None)
    if state["settings"] in shell.configurables:
        shell.configurables.remove(state["settings"])
    errors.uninstall(shell)
    html = shell.display_formatter.formatters["text/html"]
    html.pop(Client, None)
    if state["previous_html"] is not None:
        html.for_type(Client, state["previous_html"])
    from diaspora_notebook.login.flows import use_widget_login

    use_widget_login(None)
    state["settings"].close()  # the clients of the environments the magics named
    delattr(shell, _STATE_ATTR)


__all__ = ["load_ipython_extension", "settings", "unload_ipython_extension"]
