"""``%diaspora_replay SOURCE TOPIC... [--speed X] [--loop] [--keep-timestamps] [-o VAR]``.

One call of the plain ``topics.replay`` API; the replay runs in the background and the cell
shows its progress widget (Pause / Resume / Stop; the handle itself with widgets off) and
returns at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError

if TYPE_CHECKING:
    from diaspora_notebook.notebook.configurable import Diaspora


def parse_speed(text: str) -> float | str:
    """``"max"`` or a positive number."""
    if str(text).strip().lower() == "max":
        return "max"
    try:
        speed = float(text)
    except ValueError:
        speed = 0.0
    if not speed > 0:
        raise DiasporaUsageError(f"--speed must be a positive number or max, not {text!r}",
                                 hint="e.g. --speed 1 (as recorded), --speed 10, --speed max")
    return speed


def run_replay(settings: Diaspora, *, source: Any, topics: list[str], speed: str = "1",
               loop: bool = False, keep_timestamps: bool = False,
               timestamp_field: str | None = None, start: str | None = None,
               stop: str | None = None, store: Callable[[Any], None] | None = None) -> Any:
    from diaspora_notebook import topics as topics_api
    from diaspora_notebook.notebook.widgets.replay import ReplayProgress

    handle = topics_api.replay(source, topics, speed=parse_speed(speed), loop=loop,
                               keep_timestamps=keep_timestamps, timestamp=timestamp_field,
                               start=start, stop=stop, client=settings.logged_in_client())
    if store is not None:
        store(handle)
    return ReplayProgress(handle) if settings.widget else handle
