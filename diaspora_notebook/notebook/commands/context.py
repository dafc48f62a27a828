"""Old home of the notebook settings; see :mod:`diaspora_notebook.notebook.configurable`.

Kept so that ``from diaspora_notebook.notebook.commands.context import Diaspora`` still works.
"""

from __future__ import annotations

from diaspora_notebook.notebook.configurable import Diaspora

__all__ = ["Diaspora"]
