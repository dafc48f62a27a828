"""Deprecated: use :mod:`diaspora_notebook.login.flows` (the same module under its old name)."""

from __future__ import annotations

import sys
import warnings

from diaspora_notebook.login import flows

warnings.warn("diaspora_notebook.login_flows is deprecated; import from "
              "diaspora_notebook.login", DeprecationWarning, stacklevel=2)
# the very module object, so patching an attribute through the old name still takes effect
sys.modules[__name__] = flows
