"""Static records of finished widgets: what a reopened notebook shows instead of an error.

A saved notebook opened without its kernel (or with a new one) has no widget models, and
JupyterLab draws every widget output as "Error displaying widget: model not found" (unless the
widget state was saved with the notebook, which is off by default). So a widget whose work
is over (a login done, a stream stopped) replaces its own output with static HTML of its last
state: :class:`Recorded` displays the widget under a display id (``_ipython_display_``, also
for the value of a cell) and :meth:`Recorded.finish` updates that display. JupyterLab applies
the update to the saved output too, so the file holds the readable record and no widget view.
"""

from __future__ import annotations

from typing import Any


class Recorded:
    """Mixin for skins with a ``widget`` attribute: display it so it can become static HTML."""

    widget: Any
    _display_handle: Any = None
    finished_html: str | None = None

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        if self.finished_html is not None:  # shown again after its work ended: the record
            display(HTML(self.finished_html))
            return
        self._display_handle = display(self.widget, display_id=True)

    def finish(self, html: str) -> None:
        """Replace every display of this widget with ``html`` (its last state, readable)."""
        self.finished_html = html
        if self._display_handle is not None:
            from IPython.display import HTML

            self._display_handle.update(HTML(html))
