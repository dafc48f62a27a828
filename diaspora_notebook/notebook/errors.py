"""Errors in a notebook: one line, no traceback, and the cell still fails.

A :class:`~diaspora_notebook.errors.DiasporaError` raised by a magic becomes an IPython
``UsageError`` (the one exception IPython shows without a traceback and that still marks the
cell as failed, so "Run All", nbclient and papermill stop). IPython only special-cases the exact
``UsageError`` class (subclasses get a traceback, see ipython/ipython#14024), so the error is a
plain ``UsageError`` carrying a ``diaspora_line`` attribute, and :func:`install` patches
``shell.show_usage_error`` to print that line as ``Name: what happened - what to do`` instead of
``UsageError: ...`` (the jupysql pattern). ``%config Diaspora.verbose_errors = True`` re-raises
the original exception with its traceback instead.

A ``DiasporaError`` raised by the Python API in a cell (``Client().create_key()``,
``live.wait(10)``) is shown the same way: :func:`install` registers IPython's custom exception
hook (``shell.set_custom_exc``) for the Diaspora error classes only, which prints the one line
(or the full traceback when ``verbose_errors`` is on); the cell fails as with any exception.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from IPython.core.error import UsageError

from diaspora_notebook.errors import (
    DiasporaError,
    KafkaAccessDeniedError,
    TopicExistsError,
    TopicMissingError,
)
from diaspora_notebook.notebook.configurable import loaded_settings

F = TypeVar("F", bound=Callable[..., Any])
_PATCHED = "_diaspora_original_show_usage_error"
_CUSTOM = "_diaspora_original_custom_exc"


def magic_hint(exc: DiasporaError) -> str | None:
    """The hint in magic syntax where the core's names a Python call (None: keep the core's)."""
    topic = getattr(exc, "topic", None)
    if not topic:
        return None
    if isinstance(exc, TopicMissingError):
        return (f"create it: %diaspora_register {topic} --create, or the topic manager's "
                f"Create button (Python: topics.create({topic!r}))")
    if isinstance(exc, KafkaAccessDeniedError):
        return (f"register it with %diaspora_register {topic}, or ask its owner to grant you "
                "access")
    if isinstance(exc, TopicExistsError):
        return "use it as it is, or delete it first with the topic manager's Delete button"
    return None


def notebook_line(exc: DiasporaError) -> str:
    """``Name: what happened - what to do``, the hint in magic syntax where there is one."""
    hint = magic_hint(exc) or exc.hint
    text = f"{type(exc).__name__}: {exc.message}"
    return f"{text} - {hint}" if hint else text


def cell_error(exc: DiasporaError) -> UsageError:
    """The ``UsageError`` that shows ``exc`` as one line (``exc`` stays on ``.diaspora_error``)."""
    line = notebook_line(exc)
    err = UsageError(line)
    err.diaspora_line = line  # type: ignore[attr-defined]
    err.diaspora_error = exc  # type: ignore[attr-defined]
    return err


@contextmanager
def reported(verbose: bool = False) -> Iterator[None]:
    """Turn a ``DiasporaError`` raised inside into a one-line cell failure.

    :param verbose: re-raise the original exception (full traceback) instead.
    """
    try:
        yield
    except DiasporaError as exc:
        if verbose:
            raise
        raise cell_error(exc) from None


def reporting(method: F) -> F:
    """Decorate a magic method of an object with ``settings.verbose_errors``."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with reported(bool(getattr(self.settings, "verbose_errors", False))):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _show_usage_error(shell: Any, exc: BaseException) -> None:
    line = getattr(exc, "diaspora_line", None)
    if line is None:
        getattr(shell, _PATCHED)(exc)
    else:
        print(line, file=sys.stderr)


def _verbose(shell: Any) -> bool:
    current = loaded_settings(shell)
    return bool(getattr(current, "verbose_errors", False))


def show_api_error(shell: Any, etype: type[BaseException], value: BaseException, tb: Any,
                   tb_offset: int | None = None) -> Any:
    """IPython's custom exception hook: a Diaspora error from a cell as one line on stderr."""
    previous_types, previous_handler = getattr(shell, _CUSTOM, ((), None))
    if not isinstance(value, DiasporaError):  # another extension's hook, kept working
        if previous_handler is not None and isinstance(value, previous_types):
            return previous_handler(etype, value, tb, tb_offset=tb_offset)
        return shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    if _verbose(shell):
        return shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    print(notebook_line(value), file=sys.stderr)
    return None


def install(shell: Any) -> None:
    """Make ``shell`` print Diaspora errors as their one line (idempotent).

    Usage errors of the magics through ``show_usage_error``; errors of the Python API through
    IPython's custom exception hook, for :class:`DiasporaError` and its subclasses only.
    """
    if getattr(shell, _PATCHED, None) is None:
        setattr(shell, _PATCHED, shell.show_usage_error)
        shell.show_usage_error = functools.partial(_show_usage_error, shell)
    if getattr(shell, _CUSTOM, None) is None and hasattr(shell, "set_custom_exc"):
        previous = (tuple(shell.custom_exceptions), shell.CustomTB)
        setattr(shell, _CUSTOM, previous)
        shell.set_custom_exc((*previous[0], DiasporaError),
                             lambda _shell, etype, value, tb, tb_offset=None:
                             show_api_error(shell, etype, value, tb, tb_offset))


def uninstall(shell: Any) -> None:
    """Undo :func:`install`."""
    original = getattr(shell, _PATCHED, None)
    if original is not None:
        shell.show_usage_error = original
        delattr(shell, _PATCHED)
    custom = getattr(shell, _CUSTOM, None)
    if custom is not None:
        shell.custom_exceptions, shell.CustomTB = custom
        delattr(shell, _CUSTOM)


def widget_message(exc: BaseException) -> str:
    """The text a widget shows inline for a failed action (no traceback, ever)."""
    if isinstance(exc, DiasporaError):
        return notebook_line(exc)
    return f"{type(exc).__name__}: {exc}"
