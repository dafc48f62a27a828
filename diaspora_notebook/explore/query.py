"""Filter expressions: the user's ``value.temp > 30 and key == "s1"`` -> a pandas expression.

The rule users learn: a filter is a pandas-query expression over the columns of the result
(``topic partition offset timestamp key headers value`` and the payload fields ``value.<path>``).
Dotted field names need no backticks: a name that starts with ``value.`` runs to the end of its
dotted chain (``value.deep.x``) and is backticked here. Names with other characters (``-``, a
space) or a field followed by a pandas method go in backticks:
``` `value.station-id` == "a" ``` and ``` `value.name`.str.startswith("x") ```.

A syntax error is reported with its position (a caret under the expression) before anything is
read; errors that only show on data (comparing text with a number) name the batch they hit.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError

if TYPE_CHECKING:
    import pandas as pd

#: The record columns every result has, in order.
META = ("topic", "partition", "offset", "timestamp", "key", "headers", "value")
FIELD_PREFIX = "value."
_FIELD = re.compile(r"(?<![\w.@`])value(?:\.[A-Za-z_]\w*)+")
_WORD = re.compile(r"(?<![\w.@`])([A-Za-z_]\w*)")
_HINT = ('e.g. filter=\'value.temp > 30 and key == "s1"\'; put names with other characters '
         "in backticks: `value.station-id` == 'a'")


@dataclass(frozen=True)
class Filter:
    """A checked filter expression.

    :ivar text: what the user wrote
    :ivar expr: the pandas expression (dotted field names in backticks)
    :ivar meta: record columns it uses (``key``, ``timestamp``, ...)
    :ivar fields: payload fields it uses, as ``value.<path>`` column names
    """

    text: str
    expr: str
    meta: frozenset[str] = field(default_factory=frozenset)
    fields: tuple[str, ...] = ()


def _segments(text: str) -> list[tuple[str, str]]:
    """``text`` as (kind, piece) with kind "code", "string" or "name" (a backticked name)."""
    out: list[tuple[str, str]] = []
    i, start, n = 0, 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" and ch != "`" else 1
            if j >= n:
                what = "backtick" if ch == "`" else "quote"
                raise _error(text, i, f"this {what} is never closed")
            out.append(("code", text[start:i]))
            out.append(("name" if ch == "`" else "string", text[i:j + 1]))
            i = start = j + 1
            continue
        i += 1
    out.append(("code", text[start:]))
    return [s for s in out if s[1]]


def _error(text: str, pos: int, message: str) -> DiasporaUsageError:
    caret = " " * pos + "^"
    return DiasporaUsageError(f"bad filter at position {pos + 1}: {message}\n  {text}\n  {caret}",
                              hint=_HINT)


def parse_filter(text: str) -> Filter:
    """Check ``text`` and translate it (see the module's rule).

    :raises DiasporaUsageError: it is empty or not an expression; the message shows where
    """
    if not isinstance(text, str) or not text.strip():
        raise DiasporaUsageError(f"a filter must be a non-empty expression, not {text!r}",
                                 hint=_HINT)
    parts = _segments(text)
    # Python's parser finds the position; backticked names become same-length identifiers
    probe = "".join("_" * len(p) if kind == "name" else p for kind, p in parts)
    try:
        tree = ast.parse(probe.strip(), mode="eval")
    except SyntaxError as exc:
        if not exc.offset:  # Python points before the start when the input ends too early
            raise _error(text, len(text.rstrip()), "the expression ends too early") from None
        lead = len(probe) - len(probe.lstrip())
        raise _error(text, lead + exc.offset - 1, exc.msg) from None
    if isinstance(tree.body, (ast.Lambda, ast.NamedExpr)):
        raise _error(text, 0, "a filter is a condition, not a function or an assignment")
    expr: list[str] = []
    fields: list[str] = []
    meta: set[str] = set()
    for kind, piece in parts:
        if kind == "string":
            expr.append(piece)
        elif kind == "name":
            name = piece[1:-1]
            if name.startswith(FIELD_PREFIX):
                fields.append(name)
            elif name in META:
                meta.add(name)
            expr.append(piece)
        else:
            def quote(m: re.Match[str]) -> str:
                fields.append(m.group(0))
                return f"`{m.group(0)}`"

            code = _FIELD.sub(quote, piece)
            meta.update(w for w in _WORD.findall(_FIELD.sub("", piece)) if w in META)
            expr.append(code)
    return Filter(text, "".join(expr), frozenset(meta), tuple(dict.fromkeys(fields)))


def evaluate(flt: Filter, frame: pd.DataFrame, where: str) -> Any:
    """The boolean mask of ``flt`` over ``frame`` (numpy array of bools).

    :param where: names the rows in an error message (e.g. "partition 0, offsets 10-19")
    """
    import numpy as np
    import pandas as pd

    try:
        result = frame.eval(flt.expr, engine="python")
    except Exception as exc:  # pandas raises many types for one kind of mistake
        raise DiasporaUsageError(
            f"filter {flt.text!r} failed on {where}: {type(exc).__name__}: {exc}"[:500],
            hint="check the field names and that values compare with the same type "
            "(text in quotes); " + _HINT) from None
    if isinstance(result, pd.Series):
        if result.dtype != bool:
            if result.dtype == object and result.map(lambda v: isinstance(v, bool)).all():
                return result.to_numpy(dtype=bool)
            raise DiasporaUsageError(f"filter {flt.text!r} is not a condition: it gives "
                                     f"{result.dtype} values, not true/false", hint=_HINT)
        return result.to_numpy()
    if isinstance(result, (bool, np.bool_)):
        return np.full(len(frame), bool(result))
    raise DiasporaUsageError(f"filter {flt.text!r} is not a condition", hint=_HINT)
