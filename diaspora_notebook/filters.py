"""Filter expressions: the user's ``value.temp > 30 and key == "s1"`` -> a checked condition.

The rule users learn: a filter is a condition over the columns of the result (``topic partition
offset timestamp key headers value`` and the payload fields ``value.<path>``), written like a
pandas query. Dotted field names need no backticks: a name that starts with ``value.`` runs to
the end of its dotted chain (``value.deep.x``). Names with other characters (``-``, a space) go
in backticks: ``` `value.station-id` == "a" ```.

What a filter may contain, and nothing else (no code runs from a filter, so a filter read from
a snapshot file someone handed you is as safe as one you typed):

* names: the record columns above, payload fields ``value.<path>``, backticked names of those;
* literals: text in quotes, numbers, ``True``, ``False``, ``None``, and lists/tuples of them
  (for ``in``);
* comparisons ``== != < <= > >= in not in`` (chained ones too: ``0 < value.x < 5``);
* ``and or not`` (and their pandas spellings ``& | ~``), arithmetic ``+ - * / // % **``;
* the functions :data:`FUNCTIONS` (``contains(key, "lab")``, ``isnull(value.temp)``, ...), also
  as methods of a column: ``value.name.startswith("x")``, ``` `value.n-a`.str.contains("y") ```,
  ``value.temp.isnull()``.

There is no other attribute access, no subscript, no other call, no import, no lambda. The text
is parsed with Python's ``ast`` into that whitelist and evaluated here, column by column over
pandas/numpy (never with ``eval``).

A syntax error, or anything outside the whitelist, is reported with its position (a caret under
the expression) before anything is read; errors that only show on data (comparing text with a
number) name the batch they hit.
"""

from __future__ import annotations

import ast
import difflib
import operator
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diaspora_notebook.errors import DiasporaUsageError

if TYPE_CHECKING:
    import pandas as pd

#: The record columns every result has, in order.
META = ("topic", "partition", "offset", "timestamp", "key", "headers", "value")
FIELD_PREFIX = "value."
#: the longest filter accepted (a condition, not a program)
MAX_LENGTH = 10_000
#: the deepest nesting of a filter's expression tree
MAX_DEPTH = 100
_FIELD = re.compile(r"(?<![\w.@`])value(?:\.[A-Za-z_]\w*)+")
_HINT = ('e.g. filter=\'value.temp > 30 and key == "s1"\'; put names with other characters '
         "in backticks: `value.station-id` == 'a'")

Value = Any  # a pandas Series (one value per row) or a scalar
Compiled = Callable[["pd.DataFrame"], Value]


class _DataError(Exception):
    """A filter that parsed but does not apply to this batch's values."""


@dataclass(frozen=True)
class Filter:
    """A checked filter expression.

    :ivar text: what the user wrote
    :ivar expr: the same with dotted field names in backticks (pandas-query spelling)
    :ivar meta: record columns it uses (``key``, ``timestamp``, ...)
    :ivar fields: payload fields it uses, as ``value.<path>`` column names
    :ivar run: the whitelisted condition, compiled: ``run(frame)`` -> values (see
        :func:`evaluate`)
    """

    text: str
    expr: str
    meta: frozenset[str] = field(default_factory=frozenset)
    fields: tuple[str, ...] = ()
    run: Compiled | None = field(default=None, compare=False, repr=False)


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


def _error(text: str, pos: int, message: str, hint: str = _HINT) -> DiasporaUsageError:
    shown = text if len(text) <= 300 else text[:300] + "..."
    pos = max(0, min(pos, len(text)))
    caret = " " * pos + "^" if pos <= 300 else ""
    return DiasporaUsageError(f"bad filter at position {pos + 1}: {message}\n  {shown}\n  {caret}",
                              hint=hint)


def unknown_name(text: str, pos: int, name: str) -> DiasporaUsageError:
    """The one place a name that is no column is reported (with a did-you-mean)."""
    close = difflib.get_close_matches(name, META, n=1)
    if "." not in name:
        suggestion = f"did you mean {FIELD_PREFIX}{name}" + (f" or {close[0]}" if close else "")
        suggestion += "? "
    else:
        suggestion = ""
    return _error(text, pos, f"unknown name {name[:80]!r}: {suggestion}payload fields are "
                  f"value.<path>, record columns {', '.join(META)}")


# --- functions ------------------------------------------------------------------------------

def _series_like(v: Value) -> bool:
    return hasattr(v, "dtype") and hasattr(v, "index")


def _texts(v: Value, name: str) -> Value:
    """``v`` as text values (missing stays missing); a non-text value is a data error."""
    import pandas as pd

    if not _series_like(v):
        if v is None or isinstance(v, str):
            return v
        raise _DataError(f"{name}() needs text, not {type(v).__name__} {v!r}")
    if v.isna().all():
        return v.astype(object)
    if pd.api.types.is_string_dtype(v.dtype) and v.dtype != object:
        return v
    if v.dtype == object and v.dropna().map(lambda x: isinstance(x, str)).all():
        return v
    raise _DataError(f"{name}() needs text, but the column holds {v.dtype} values "
                     "(compare numbers with < > ==)")


def _text_test(name: str, method: str) -> Callable[[Value, Value], Value]:
    def run(v: Value, arg: Value) -> Value:
        import numpy as np
        import pandas as pd

        v = _texts(v, name)
        if not isinstance(arg, str):
            raise _DataError(f"{name}() takes text as its second argument, not {arg!r}")
        if not _series_like(v):
            return isinstance(v, str) and bool(getattr(v, method)(arg))
        if v.isna().all():
            return pd.Series(np.zeros(len(v), dtype=bool), index=v.index)
        got = v.map(lambda x: isinstance(x, str) and bool(getattr(x, method)(arg)))
        return got.astype(bool)
    return run


def _contains_text(v: Value, arg: Value) -> Value:
    return _text_test("contains", "__contains__")(v, arg)


def _text_map(name: str, fn: Callable[[str], Any]) -> Callable[[Value], Value]:
    def run(v: Value) -> Value:
        v = _texts(v, name)
        if not _series_like(v):
            return None if v is None else fn(v)
        return v.map(lambda x: fn(x) if isinstance(x, str) else None)
    return run


def _isnull(v: Value) -> Value:
    import pandas as pd

    return v.isna() if _series_like(v) else bool(pd.isna(v))


def _notnull(v: Value) -> Value:
    import pandas as pd

    return v.notna() if _series_like(v) else not bool(pd.isna(v))


def _abs(v: Value) -> Value:
    return abs(_numbers(v, "abs"))


#: the functions a filter may call, with their number of arguments
FUNCTIONS: dict[str, tuple[int, Callable[..., Value]]] = {
    "contains": (2, _contains_text),
    "startswith": (2, _text_test("startswith", "startswith")),
    "endswith": (2, _text_test("endswith", "endswith")),
    "isnull": (1, _isnull), "isna": (1, _isnull),
    "notnull": (1, _notnull), "notna": (1, _notnull),
    "lower": (1, _text_map("lower", str.lower)),
    "upper": (1, _text_map("upper", str.upper)),
    "strip": (1, _text_map("strip", str.strip)),
    "len": (1, _text_map("len", len)),
    "abs": (1, _abs),
}
_FUNCTION_LIST = ", ".join(FUNCTIONS)


# --- operators ------------------------------------------------------------------------------

def _numbers(v: Value, what: str) -> Value:
    """``v`` as numbers for arithmetic (text, lists, ... are a data error)."""
    import numpy as np
    import pandas as pd

    if _series_like(v):
        if pd.api.types.is_bool_dtype(v.dtype) or pd.api.types.is_numeric_dtype(v.dtype) \
                or pd.api.types.is_datetime64_any_dtype(v.dtype):
            return v
        if v.isna().all():
            return v.astype(float)
        try:
            return pd.to_numeric(v, errors="raise")
        except (TypeError, ValueError):
            raise _DataError(f"{what} needs numbers, but the column holds {v.dtype} values "
                             "that are not all numbers") from None
    if v is None:
        return np.nan
    if isinstance(v, (bool, int, float, np.number, np.bool_)):
        return v
    raise _DataError(f"{what} needs numbers, not {type(v).__name__} {str(v)[:40]!r}")


def _arith(name: str, op: Callable[[Any, Any], Any]) -> Callable[[Value, Value], Value]:
    def run(a: Value, b: Value) -> Value:
        if name == "+" and (isinstance(a, str) or isinstance(b, str)
                            or (_series_like(a) and not _series_like(b) and a.dtype == object)):
            return op(a, b)  # text joined with text (as long as its parts: bounded)
        a, b = _numbers(a, name), _numbers(b, name)
        if not _series_like(a) and not _series_like(b):
            a, b = float(a), float(b)  # no unbounded integers (9 ** 9 ** 9) from scalars
        return op(a, b)
    return run


_BINOPS: dict[type[ast.operator], Callable[[Value, Value], Value]] = {
    ast.Add: _arith("+", operator.add), ast.Sub: _arith("-", operator.sub),
    ast.Mult: _arith("*", operator.mul), ast.Div: _arith("/", operator.truediv),
    ast.FloorDiv: _arith("//", operator.floordiv), ast.Mod: _arith("%", operator.mod),
    ast.Pow: _arith("**", operator.pow),
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def _truth(v: Value, what: str = "this part") -> Value:
    """``v`` as true/false per row (missing is false); numbers or text are a data error."""
    import numpy as np
    import pandas as pd

    if not _series_like(v):
        if v is None:
            return False
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        raise _DataError(f"{what} is not a condition: it gives {type(v).__name__} {v!r}")
    if v.dtype == bool:
        return v
    if v.isna().all():
        return pd.Series(np.zeros(len(v), dtype=bool), index=v.index)
    if pd.api.types.is_bool_dtype(v.dtype) or (
            v.dtype == object and v.dropna().map(lambda x: isinstance(x, (bool, np.bool_))).all()):
        return v.fillna(False).astype(bool)
    raise _DataError(f"{what} is not a condition: it gives {v.dtype} values, not true/false")


def _and(a: Value, b: Value) -> Value:
    return a & b if _series_like(a) or _series_like(b) else (a and b)


def _or(a: Value, b: Value) -> Value:
    return a | b if _series_like(a) or _series_like(b) else (a or b)


def _not(a: Value) -> Value:
    return ~a if _series_like(a) else not a


def _isin(a: Value, values: tuple[Any, ...]) -> Value:
    if _series_like(a):
        return a.isin(list(values))
    return a in values


# --- parsing --------------------------------------------------------------------------------

class _Compiler:
    """The whitelist: each allowed AST node -> a function of the frame; anything else is an
    error at its position."""

    def __init__(self, text: str, source: str, lead: int, names: dict[int, str],
                 columns: frozenset[str] = frozenset()) -> None:
        self.text, self.lead, self.names = text, lead, names
        self.columns = columns
        self.lines = source.splitlines(keepends=True) or [""]
        self.meta: set[str] = set()
        self.fields: list[str] = []

    def pos(self, node: ast.AST) -> int:
        lineno = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        before = sum(len(line) for line in self.lines[:lineno - 1])
        line = self.lines[lineno - 1] if lineno - 1 < len(self.lines) else ""
        return self.lead + before + len(line.encode()[:col].decode(errors="ignore"))

    def fail(self, node: ast.AST, message: str) -> DiasporaUsageError:
        return _error(self.text, self.pos(node), message)

    def compile(self, node: ast.AST, depth: int = 0) -> Compiled:
        if depth > MAX_DEPTH:
            raise self.fail(node, f"the expression is nested more than {MAX_DEPTH} deep")
        d = depth + 1
        if isinstance(node, ast.BoolOp):
            parts = [self.compile(v, d) for v in node.values]
            join = _and if isinstance(node.op, ast.And) else _or
            return self._fold(parts, join)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, (ast.USub, ast.UAdd)) and isinstance(node.operand, ast.Constant):
                value = self.literal(node)
                return lambda frame: value
            inner = self.compile(node.operand, d)
            if isinstance(node.op, (ast.Not, ast.Invert)):
                return lambda frame: _not(_truth(inner(frame), "the part after 'not'"))
            sign = operator.neg if isinstance(node.op, ast.USub) else operator.pos
            return lambda frame: sign(_numbers(inner(frame), "a sign"))
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, (ast.BitAnd, ast.BitOr)):
                left, right = self.compile(node.left, d), self.compile(node.right, d)
                return self._fold([left, right], _and if isinstance(node.op, ast.BitAnd)
                                  else _or)
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise self.fail(node, f"the operator {type(node.op).__name__} is not allowed in "
                                      "a filter (use + - * / // % ** and & |)")
            left, right = self.compile(node.left, d), self.compile(node.right, d)
            return lambda frame: op(left(frame), right(frame))
        if isinstance(node, ast.Compare):
            return self.compare(node, d)
        if isinstance(node, ast.Constant):
            value = self.literal(node)
            return lambda frame: value
        if isinstance(node, ast.Name):
            return self.column(self.name_of(node), node)
        if isinstance(node, ast.Attribute):
            return self.column(self.path_of(node), node)
        if isinstance(node, ast.Call):
            return self.call(node, d)
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            raise self.fail(node, "a list is allowed only after 'in' (key in ['a', 'b'])")
        raise self.fail(node, self.refusal(node))

    def refusal(self, node: ast.AST) -> str:
        if isinstance(node, (ast.Lambda, ast.NamedExpr)):
            return "a filter is a condition, not a function or an assignment"
        if isinstance(node, ast.Subscript):
            return "subscripts ([...]) are not allowed in a filter"
        if isinstance(node, (ast.JoinedStr, ast.FormattedValue)):
            return "f-strings are not allowed in a filter (write the text in quotes)"
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return "comprehensions are not allowed in a filter"
        return f"{type(node).__name__} is not allowed in a filter"

    @staticmethod
    def _fold(parts: list[Compiled], join: Callable[[Value, Value], Value]) -> Compiled:
        def run(frame: pd.DataFrame) -> Value:
            out = _truth(parts[0](frame))
            for part in parts[1:]:
                out = join(out, _truth(part(frame)))
            return out
        return run

    def literal(self, node: ast.AST) -> Any:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.literal(node.operand)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(node, "a sign goes before a number")
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Constant) and (
                node.value is None or isinstance(node.value, (str, bool, int, float))):
            return node.value
        if isinstance(node, ast.Constant):
            raise self.fail(node, f"{type(node.value).__name__} literals are not allowed in a "
                                  "filter (text in quotes, numbers, True, False, None)")
        raise self.fail(node, "only literals (text, numbers, True, False, None) go in a list")

    def compare(self, node: ast.Compare, depth: int) -> Compiled:
        terms: list[Any] = [self.compile(node.left, depth)]
        steps: list[tuple[Callable[[Any, Any], Any] | None, bool]] = []
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)):
                if isinstance(right, (ast.List, ast.Tuple, ast.Set)):
                    values = tuple(self.literal(e) for e in right.elts)
                else:
                    values = (self.literal(right),)
                terms.append(values)
                steps.append((None, isinstance(op, ast.NotIn)))
                continue
            fn = _COMPARE.get(type(op))
            if fn is None:
                raise self.fail(node, "'is' is not allowed in a filter: use == None or "
                                      "isnull(...)")
            terms.append(self.compile(right, depth))
            steps.append((fn, False))

        def run(frame: pd.DataFrame) -> Value:
            left = terms[0](frame)
            out: Value = None
            for (fn, negate), term in zip(steps, terms[1:], strict=True):
                if fn is None:
                    got, right = _isin(left, term), None
                    got = _not(got) if negate else got
                else:
                    right = term(frame)
                    got = fn(left, right)
                out = got if out is None else _and(out, got)
                left = right
            return out
        return run

    def name_of(self, node: ast.Name) -> str:
        backticked = self.names.get(self.pos(node))
        if backticked is not None and set(node.id) == {"_"}:
            return backticked
        return node.id

    def path_of(self, node: ast.Attribute) -> str:
        """``value.a.b`` of an attribute chain rooted at ``value`` (nothing else is allowed)."""
        parts: list[str] = []
        cur: ast.AST = node
        while isinstance(cur, ast.Attribute):
            parts.append(cur.attr)
            cur = cur.value
        if not (isinstance(cur, ast.Name) and self.name_of(cur) == "value"):
            raise self.fail(node, "attribute access is not allowed in a filter: only payload "
                                  f"fields value.<path> and the functions {_FUNCTION_LIST}")
        for part in parts:
            if part.startswith("__") and part.endswith("__"):
                raise self.fail(node, f"{part!r} is no field name (put a field named so in "
                                      "backticks: `value.__x__`)")
        return ".".join(["value", *reversed(parts)])

    def column(self, name: str, node: ast.AST) -> Compiled:
        if name in self.columns:
            pass  # a column of the caller's frame (a live aggregate's result)
        elif name in META:
            self.meta.add(name)
        elif name.startswith(FIELD_PREFIX) and len(name) > len(FIELD_PREFIX):
            if name not in self.fields:
                self.fields.append(name)
        else:
            raise unknown_name(self.text, self.pos(node), name)

        def run(frame: pd.DataFrame) -> Value:
            import numpy as np
            import pandas as pd

            if name in frame.columns:
                return frame[name]
            return pd.Series(np.full(len(frame), np.nan), index=frame.index)  # missing field
        return run

    def call(self, node: ast.Call, depth: int) -> Compiled:
        func = node.func
        if node.keywords:
            raise self.fail(node, "filter functions take no keyword arguments")
        args = list(node.args)
        if any(isinstance(a, ast.Starred) for a in args):
            raise self.fail(node, "*arguments are not allowed in a filter")
        if isinstance(func, ast.Name) and func.id in FUNCTIONS:
            name = func.id
        elif isinstance(func, ast.Attribute) and func.attr in FUNCTIONS:
            receiver = func.value  # a column's method: value.name.startswith("x")
            if isinstance(receiver, ast.Attribute) and receiver.attr == "str":
                receiver = receiver.value  # the pandas spelling `value.x`.str.contains(...)
            name, args = func.attr, [receiver, *args]
        else:
            called = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else "this"
            raise self.fail(node, f"{called!r} is not a filter function: calls are limited to "
                                  f"{_FUNCTION_LIST}")
        count, fn = FUNCTIONS[name]
        if len(args) != count:
            raise self.fail(node, f"{name}() takes {count} argument{'s' * (count > 1)}, "
                                  f"got {len(args)}")
        compiled = [self.compile(a, depth) for a in args]
        return lambda frame: fn(*(c(frame) for c in compiled))


def parse_filter(text: str, *, columns: Iterable[str] = ()) -> Filter:
    """Check ``text`` against the whitelist and compile it (see the module's rule).

    :param columns: more names a condition may use, as they are (the columns of a live
        aggregate's result: ``"mean > 30"``)

    :raises DiasporaUsageError: it is empty, not an expression, or uses anything outside the
        whitelist; the message shows where
    """
    if not isinstance(text, str) or not text.strip():
        raise DiasporaUsageError(f"a filter must be a non-empty expression, not {text!r}"[:200],
                                 hint=_HINT)
    if len(text) > MAX_LENGTH:
        raise DiasporaUsageError(f"a filter has at most {MAX_LENGTH:,} characters "
                                 f"(this one has {len(text):,})", hint=_HINT)
    if "\x00" in text:
        raise _error(text, text.index("\x00"), "a filter cannot contain a NUL character")
    parts = _segments(text)
    # Python's parser finds the position; backticked names become same-length identifiers
    probe = "".join("_" * len(p) if kind == "name" else p for kind, p in parts)
    lead = len(probe) - len(probe.lstrip())
    source = probe.strip()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "invalid decimal literal" and the like
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        if not exc.offset:  # Python points before the start when the input ends too early
            raise _error(text, len(text.rstrip()), "the expression ends too early") from None
        where = lead + exc.offset - 1
        if exc.lineno and exc.lineno > 1:
            where += sum(len(line) for line in source.splitlines(keepends=True)[:exc.lineno - 1])
        raise _error(text, where, exc.msg) from None
    except (RecursionError, MemoryError, ValueError):
        raise _error(text, 0, "the expression is nested too deeply") from None
    if isinstance(tree.body, (ast.Lambda, ast.NamedExpr)):
        raise _error(text, 0, "a filter is a condition, not a function or an assignment")
    names: dict[int, str] = {}
    expr: list[str] = []
    at = 0
    for kind, piece in parts:
        if kind == "name":
            if len(piece) <= 2:
                raise _error(text, at, "an empty name in backticks")
            names[at] = piece[1:-1]
            expr.append(piece)
        elif kind == "string":
            expr.append(piece)
        else:
            expr.append(_FIELD.sub(lambda m: f"`{m.group(0)}`", piece))
        at += len(piece)
    compiler = _Compiler(text, source, lead, names, frozenset(columns))
    try:
        run = compiler.compile(tree.body)
    except RecursionError:
        raise _error(text, 0, "the expression is nested too deeply") from None
    return Filter(text, "".join(expr), frozenset(compiler.meta), tuple(compiler.fields), run)


def evaluate(flt: Filter, frame: pd.DataFrame, where: str) -> Any:
    """The boolean mask of ``flt`` over ``frame`` (numpy array of bools).

    :param where: names the rows in an error message (e.g. "partition 0, offsets 10-19")
    """
    import numpy as np

    run = flt.run if flt.run is not None else parse_filter(flt.text).run
    assert run is not None
    try:
        result = run(frame)
        mask = _truth(result, "the filter")
    except _DataError as exc:
        message = str(exc)
        if "is not a condition" in message:
            raise DiasporaUsageError(f"filter {flt.text!r} is not a condition: "
                                     f"{message.split(': ', 1)[-1]}"[:500], hint=_HINT) from None
        raise DiasporaUsageError(f"filter {flt.text!r} failed on {where}: {message}"[:500],
                                 hint="check the field names and that values compare with the "
                                 "same type (text in quotes); " + _HINT) from None
    except Exception as exc:  # pandas raises many types for one kind of mistake
        raise DiasporaUsageError(
            f"filter {flt.text!r} failed on {where}: {type(exc).__name__}: {exc}"[:500],
            hint="check the field names and that values compare with the same type "
            "(text in quotes); " + _HINT) from None
    if _series_like(mask):
        return mask.to_numpy(dtype=bool)
    return np.full(len(frame), bool(mask))
