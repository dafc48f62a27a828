"""The replay's progress widget: a bar, a line of numbers, Pause/Resume and Stop.

It only reads the handle (``progress``) and calls its controls; a small thread refreshes it
twice a second until the replay ends.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as widgets

REFRESH_S = 0.5


def describe(progress: dict[str, Any]) -> str:
    """``running: 1,200 / 5,000 sent, 1,190 delivered, late p99 3.1 ms``."""
    total = progress.get("total")
    count = f"{progress['sent']:,}" + (f" / {total:,}" if total else "")
    text = f"{progress['state']}: {count} sent, {progress['delivered']:,} delivered"
    late = progress.get("lateness_ms") or {}
    if late:
        text += f", late p99 {late['p99']:.1f} ms"
    if progress.get("passes", 0) > 1:
        text += f", pass {progress['passes']}"
    return text


class ReplayProgress(widgets.VBox):
    """Shows a :class:`~diaspora_notebook.kafka.replay.Replay` (``.replay``) as it runs."""

    def __init__(self, replay: Any, *, refresh: float = REFRESH_S) -> None:
        self.replay = replay
        self.bar = widgets.IntProgress(value=0, min=0, max=max(replay.total or 1, 1),
                                       description="replay", bar_style="info")
        self.line = widgets.HTML(value="")
        self.pause_button = widgets.Button(description="Pause", icon="pause")
        self.stop_button = widgets.Button(description="Stop", icon="stop")
        self.pause_button.on_click(self._toggle)
        self.stop_button.on_click(lambda _b: self.replay.stop())
        super().__init__([widgets.HBox([self.bar, self.pause_button, self.stop_button]),
                          self.line])
        self._refresh = refresh
        self.update()
        self._thread = threading.Thread(target=self._follow, name="diaspora-replay-view",
                                        daemon=True)
        self._thread.start()

    def _toggle(self, _button: Any = None) -> None:
        if self.replay.state == "paused":
            self.replay.resume()
        else:
            self.replay.pause()
        self.update()

    def update(self) -> None:
        """Show the handle's progress now."""
        p = self.replay.progress
        total = p.get("total")
        if total:
            self.bar.max = total
        self.bar.value = min(p["sent"], self.bar.max)
        self.line.value = describe(p)
        self.pause_button.description = "Resume" if p["state"] == "paused" else "Pause"
        self.pause_button.icon = "play" if p["state"] == "paused" else "pause"
        if self.replay.done:
            self.bar.bar_style = "danger" if p["state"] == "failed" else "success"
            self.pause_button.disabled = self.stop_button.disabled = True
            if self.replay.error is not None:
                self.line.value = f"{describe(p)} &mdash; {self.replay.error}"

    def _follow(self) -> None:
        while not self.replay.done:
            self.replay.join(self._refresh)
            self.update()
        self.update()
