"""Deprecated location of the notebook settings: use :mod:`diaspora_notebook.notebook.settings`.

Kept so that ``from diaspora_notebook.notebook.commands.context import Diaspora`` still works.
"""

from __future__ import annotations

from diaspora_notebook.notebook.settings import Diaspora

__all__ = ["Diaspora"]
