"""diaspora-notebook: the Diaspora Event Fabric from Jupyter."""

from __future__ import annotations

__version__ = "0.1.0"
