"""Static records of widgets: what a reopened notebook shows instead of an error.

A saved notebook opened without its kernel (or with a new one) has no widget models, and
JupyterLab draws every widget output as "Error displaying widget: model not found" (unless the
widget state was saved with the notebook, which is off by default). Two ways to leave a
readable record, both through display ids (JupyterLab applies an update to the saved output
too, so the file holds what the last update sent):

* :class:`Recorded`: a widget whose work ends (a login done, a stream stopped) replaces its own
  output with static HTML of its last state (:meth:`Recorded.finish`).
* :class:`Companion`: a widget that runs on (the key, the topic manager, the explorer, a live
  chart) is displayed with a second output right after it, a ``text/html`` record of its last
  state that :meth:`Companion.update_record` keeps current (at most once per
  ``record_interval``, the last change always lands). The record carries a ``<style>`` whose
  rules hide it while a live view of the widget (class ``diaspora-live``) is drawn just before
  it, and hide the widget's own output when no live view is there ("Error displaying widget",
  "Loading widget...", or the ``text/plain`` an nbconvert export without widget state shows).
  JupyterLab keeps ``<style>`` only in trusted outputs (its sanitizer drops it otherwise); an
  untrusted notebook draws no widget at all, only the widget's short ``text/plain`` line, and
  the record under it. A companion whose work ends too (a chart of a stopped stream) finishes as
  :class:`Recorded` does, and its record output is emptied.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from diaspora_notebook.notebook.html import esc

#: class of a widget's root view while it is live (set on the model, so it is in the DOM)
LIVE_CLASS = "diaspora-live"
#: class of a companion record's outermost element
RECORD_CLASS = "diaspora-record"
# an output child of JupyterLab's output area (also nbconvert's lab template) is one output;
# the widget's output is always the child right before its record's
_CHILD = ".jp-OutputArea-child"
RECORD_STYLE = (
    "<style>"
    f"{_CHILD}:has(.{LIVE_CLASS})+{_CHILD}:has(.{RECORD_CLASS}){{display:none}}"
    f"{_CHILD}:not(:has(.{LIVE_CLASS},.{RECORD_CLASS})):has(+{_CHILD} .{RECORD_CLASS})"
    "{display:none}"
    "</style>"
)
# what an emptied record output holds: nothing to see, and its output child takes no room
GONE = ('<style>.jp-OutputArea-child:has(.diaspora-gone){display:none}</style>'
        '<div class="diaspora-gone"></div>')
_NOTE = ('<span style="color:#57606a;font-size:0.85em">&nbsp;record of its last state '
         "(run the cell for the live widget)</span>")


def record_document(title: str, body: str) -> str:
    """A companion record: the hiding rules, a title line and ``body`` (already HTML)."""
    return (f'<div class="{RECORD_CLASS}" style="border-left:3px solid #d0d7de;'
            f'padding:2px 0 2px 8px">{RECORD_STYLE}<div><b>{esc(title)}</b>{_NOTE}</div>'
            f"{body}</div>")


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


class Companion(Recorded):
    """Mixin for skins with a ``widget``: display it with a record output kept up to date.

    Subclasses set ``record_title`` and write :meth:`record_body` (HTML of the last state,
    escaped, never a secret) and may write :meth:`record_text` (the ``text/plain`` version);
    they call :meth:`update_record` when their state changed. Nothing is computed until the
    skin is displayed, so a skin inside another widget (the topic manager's explorer) costs
    nothing.
    """

    widget: Any
    record_title = "Diaspora widget"
    #: seconds between two record updates (a burst of changes sends the last one only)
    record_interval = 1.0
    _record_handle: Any = None
    _record_sent: str | None = None
    _record_at = 0.0
    _record_timer: threading.Timer | None = None
    _record_lock: threading.Lock | None = None

    def record_body(self) -> str:
        raise NotImplementedError

    def record_text(self) -> str:
        return f"{self.record_title}: its last state is in this output's HTML"

    def record_html(self) -> str:
        """The whole record output: hiding rules, title and :meth:`record_body`."""
        return record_document(self.record_title, self.record_body())

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.finished_html is not None:
            super()._ipython_display_()
            return
        self.widget.add_class(LIVE_CLASS)
        bundle = dict(self.widget._repr_mimebundle_())
        # what an export without widget state shows instead of the view (hidden by the record)
        bundle["text/plain"] = f"{self.record_title} (interactive widget; its last state follows)"
        # shown again (another cell): the same display ids, so one update reaches every copy
        self._display_handle = display(bundle, raw=True, display_id=_id(self._display_handle))
        if self._record_lock is None:
            self._record_lock = threading.Lock()
        html = self.record_html()
        self._record_sent = html
        self._record_at = time.monotonic()
        self._record_handle = display({"text/html": html, "text/plain": self.record_text()},
                                      raw=True, display_id=_id(self._record_handle))

    def update_record(self) -> None:
        """Send the record again if it changed; throttled, from any thread, never raises."""
        if self._record_handle is None or self._record_lock is None:
            return
        with self._record_lock:
            wait = self._record_at + self.record_interval - time.monotonic()
            if wait > 0:  # too soon: one timer sends whatever is current when it fires
                if self._record_timer is None:
                    self._record_timer = threading.Timer(wait, self._send_record)
                    self._record_timer.daemon = True
                    self._record_timer.start()
                return
            self._record_at = time.monotonic()
        self._send_record()

    def _send_record(self) -> None:
        self._record_timer = None
        self._record_at = time.monotonic()
        if self.finished_html is not None:  # a timer that fired after finish()
            return
        try:
            html = self.record_html()
            if html == self._record_sent:
                return
            self._record_sent = html
            self._record_handle.update({"text/html": html, "text/plain": self.record_text()},
                                       raw=True)
        except Exception:  # a record must never break the widget or print from a thread
            import logging

            logging.getLogger(__name__).debug("record update failed", exc_info=True)

    def finish(self, html: str) -> None:
        """The widget's output becomes ``html`` (:class:`Recorded`); the record output empties."""
        timer, self._record_timer = self._record_timer, None
        if timer is not None:
            timer.cancel()
        super().finish(html)
        if self._record_handle is not None:
            self._record_handle.update({"text/html": GONE, "text/plain": ""}, raw=True)

    def record_now(self) -> None:
        """Send the record at once (no throttle): before a save, in tests."""
        if self._record_handle is not None:
            self._send_record()


def _id(handle: Any) -> str | bool:
    """The display id to show under again (True: a new one)."""
    return handle.display_id if handle is not None else True
