"""No code from data (issue 27, item 2): a filter is a whitelisted condition, typed or read back
from a snapshot, and exports are owner-only (item 8). No broker: the memory engine."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diaspora_notebook import explore
from diaspora_notebook.errors import DiasporaUsageError
from diaspora_notebook.explore.snapshot import META_KEY, SIDECAR
from diaspora_notebook.filters import FUNCTIONS, META, evaluate, parse_filter
from diaspora_notebook.kafka.memory import MemoryTopics

T0 = 1_767_225_600_000


def exploit(marker: Path) -> str:
    """The issue's exact repro, writing to ``marker`` instead of /tmp/x."""
    return ("value.n >= 0 and offset.__abs__.__globals__.get('sys').modules.get('os')"
            f".system('id > {marker}') == 0")


HOSTILE = [
    "__import__('os').system('id')",
    "offset.__class__.__mro__[1].__subclasses__()",
    "().__class__.__bases__[0].__subclasses__()",
    "value.temp.__class__",
    "key.__len__() > 0",
    "getattr(offset, '__globals__')",
    "eval('1')", "exec('1')", "open('/etc/passwd')", "compile('1', 'x', 'eval')",
    "globals()", "locals()", "vars()", "breakpoint()", "input()", "print(1)",
    "[x for x in ().__class__.__base__.__subclasses__()]",
    "(lambda: 1)()", "lambda r: r", "(x := 1)", "f'{offset.__class__}' == 'x'",
    "@offset", "offset.real", "value[0] == 1", "key[::-1] == 'a'",
    "value.__dict__", "`value.a`.__class__", "`value.a`.str.__class__",
    "contains.__globals__", "abs.__self__", "startswith(key, 'a').__class__",
    "isnull(offset)(1)", "contains(key, 'a', 'b')", "contains(key=key, sub='a')",
    "offset if True else key", "{1: 2}", "{'a'}", "b'x' == key", "...",
    "offset is None", "yield 1", "await x", "import os", "os.system('id')",
    "sys.modules", "pd.eval('1')", "np.load('x')", "__builtins__",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_anything_outside_the_whitelist_is_refused_before_a_read(text):
    with pytest.raises(DiasporaUsageError) as bad:
        parse_filter(text)
    assert "bad filter" in str(bad.value) or "filter" in str(bad.value)


def test_the_issue_repro_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(DiasporaUsageError, match=r"'system' is not a filter function"):
        parse_filter(exploit(marker))
    assert not marker.exists()


def test_what_the_whitelist_allows_is_evaluated_column_by_column():
    frame = pd.DataFrame({"key": ["a", "b", None], "offset": [1, 2, 3],
                          "value.temp": [31.0, float("nan"), 12.0],
                          "value.name": ["xa", "yb", None]})
    cases = {
        "value.name.startswith('x')": [True, False, False],
        "`value.name`.str.contains('b')": [False, True, False],
        "contains(key, 'a') or isnull(value.temp)": [True, True, False],
        "0 < offset < 3": [True, True, False],
        "offset in (1, 3) and not key == 'a'": [False, False, True],
        "(offset % 2 == 0) | False": [False, True, False],
        "key + 'z' == 'az'": [True, False, False],
        "~(offset > 1) & True": [True, False, False],
        "-offset < -2": [False, False, True],
        "abs(value.temp - 20) > 5": [True, False, True],
        "lower(key) == 'a' or len(value.name) == 2 and offset == 2": [True, True, False],
        "value.missing.field == 1 or notnull(value.missing)": [False, False, False],
        "value.name.isnull()": [False, False, True],
    }
    for text, want in cases.items():
        assert list(evaluate(parse_filter(text), frame, "x")) == want, text
    assert parse_filter("value.a.b > 1 and key == 'x'").fields == ("value.a.b",)


def test_unknown_names_are_reported_in_one_place_with_a_suggestion():
    with pytest.raises(DiasporaUsageError, match=r"position 1: unknown name 'temp': did you "
                                                 r"mean value\.temp"):
        parse_filter("temp > 20")
    with pytest.raises(DiasporaUsageError, match="position 15: unknown name 'kye'"):
        parse_filter("offset > 1 or kye == 'a'")
    with pytest.raises(DiasporaUsageError, match="unknown name 'nothere'"):
        parse_filter("`nothere` == 1")


def test_data_errors_name_the_rows_and_arithmetic_stays_bounded():
    frame = pd.DataFrame({"key": ["a", "b"], "offset": [1, 2]})
    for text in ("key * 100000000 == 'a'", "9 ** 9 ** 9 ** 9 > 1", "startswith(offset, 'a')",
                 "'%s' % key == 'a'"):
        with pytest.raises(DiasporaUsageError, match="failed on rows 1-2"):
            evaluate(parse_filter(text), frame, "rows 1-2")
    with pytest.raises(DiasporaUsageError, match="at most"):
        parse_filter("offset > 1 and " * 2000 + "True")
    with pytest.raises(DiasporaUsageError):
        parse_filter("(" * 500 + "offset" + ")" * 500 + " > 1")
    with pytest.raises(DiasporaUsageError, match="nested"):
        parse_filter("-" * 300 + "offset > 1")


# --- fuzzing ---------------------------------------------------------------------------------

PIECES = ["value", ".", "__class__", "__globals__", "__import__", "__subclasses__", "__mro__",
          "__builtins__", "__dict__", "__getattribute__", "offset", "key", "timestamp", "(",
          ")", "[", "]", "'os'", '"sys"', "`", "`value.a`", ",", "lambda", ":", "=", ":=", "**",
          "*", "+", "-", " ", "and", "or", "not", "in", "is", "if", "else", "for", "import",
          "get", "system", "modules", "eval", "exec", "open", "getattr", "f'", "{", "}", "0",
          "1e308", "9", ".real", "contains", "startswith", "isnull", "abs", "@", "~", "&", "|",
          "==", "<", ">", "\\", "\n", "#", ";", "yield", "await", "str", "x", "os", "sys"]
SAFE_NAMES = {*META, *FUNCTIONS, "str"}


def _calls_only_functions(text: str) -> bool:
    import ast

    try:
        tree = ast.parse(text.replace("`", " "), mode="eval")
    except SyntaxError:
        return True
    return all(node.func.id in FUNCTIONS if isinstance(node.func, ast.Name) else
               isinstance(node.func, ast.Attribute) and node.func.attr in FUNCTIONS
               for node in ast.walk(tree) if isinstance(node, ast.Call))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=25).map("".join))
def test_fuzzed_hostile_filters_never_reach_python(text):
    frame = pd.DataFrame({"offset": [1, 2], "key": ["a", None], "timestamp": [T0, T0 + 1],
                          "value": [{"a": 1}, None], "value.a": [1.0, None]})
    try:
        flt = parse_filter(text)
    except DiasporaUsageError:
        return
    code = "".join(p for p in text.split("'") [::2])  # outside single-quoted text
    assert "__" not in code.replace("`", "") or "`" in text
    assert _calls_only_functions(text)
    try:
        mask = evaluate(flt, frame, "rows")
    except DiasporaUsageError:
        return
    assert mask.dtype == bool and len(mask) == 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_either_parses_into_the_whitelist_or_is_a_usage_error(text):
    try:
        flt = parse_filter(text)
    except DiasporaUsageError:
        return
    assert set(flt.meta) <= set(META)
    assert all(f.startswith("value.") for f in flt.fields)


# --- snapshots: the stored filter goes through the same parser ---------------------------------

class MemoryClient:
    def __init__(self, topics: MemoryTopics) -> None:
        self.topics = topics

    def connection_config(self, library: str) -> dict:
        assert library == "memory"
        return {"topics": self.topics}


@pytest.fixture
def client():
    topics = MemoryTopics()
    topics.create("t", partitions=1)
    for n in range(6):
        topics.produce("t", json.dumps({"n": n}).encode(), partition=0, timestamp_ms=T0 + n)
    return MemoryClient(topics)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_a_snapshot_whose_filter_is_code_is_refused(client, tmp_path, suffix):
    page = explore.read("t", client=client, engine="memory", start="earliest", limit=10,
                        filter="value.n >= 2")
    path = explore.export(page, tmp_path / f"snap{suffix}")
    assert len(explore.read(snapshot=path, client=client, engine="memory").frame) == 4
    marker = tmp_path / "ran"
    if suffix == ".parquet":
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[META_KEY])
        meta.update(filter=exploit(marker), offsets=None)
        pq.write_table(table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()}), path)
    else:
        sidecar = Path(str(path) + SIDECAR)
        meta = json.loads(sidecar.read_text())
        meta.update(filter=exploit(marker), offsets=None)
        sidecar.write_text(json.dumps(meta))
    with pytest.raises(DiasporaUsageError, match="refused: its diaspora metadata holds a filter "
                                                 "that is not a plain condition") as bad:
        explore.read(snapshot=path, client=client, engine="memory")
    assert "'system' is not a filter function" in str(bad.value)
    assert not marker.exists()


@pytest.mark.parametrize("change", [{"filter": 7}, {"ranges": {"0": "x"}}, {"topic": None},
                                    {"offsets": {"0": [["a", 1]]}}, {"direction": "sideways"},
                                    {"filter": "<function at 0x1>"}])
def test_a_snapshot_whose_metadata_does_not_parse_is_refused(client, tmp_path, change):
    page = explore.read("t", client=client, engine="memory", start="earliest", limit=10)
    path = explore.export(page, tmp_path / "snap.csv")
    sidecar = Path(str(path) + SIDECAR)
    meta = {**json.loads(sidecar.read_text()), **change}
    if isinstance(change.get("filter"), str):
        meta["offsets"] = None  # a function's note with no offsets cannot be re-read either
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(DiasporaUsageError, match=r"snapshot|function"):
        explore.read(snapshot=path, client=client, engine="memory")


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_exports_are_owner_only_under_a_permissive_umask(client, tmp_path, umask_022, suffix):
    page = explore.read("t", client=client, engine="memory", start="earliest", limit=10)
    path = explore.export(page, tmp_path / f"snap{suffix}")
    written = [path] + ([] if suffix == ".parquet" else [Path(str(path) + SIDECAR)])
    assert [_mode(p) for p in written] == [0o600] * len(written)
    existing = tmp_path / f"old{suffix}"
    existing.write_text("x")
    existing.chmod(0o644)
    explore.export(page, existing)
    assert _mode(existing) == 0o600
    shared = explore.export(page, tmp_path / f"shared{suffix}", mode=0o640)
    assert _mode(shared) == 0o640
    assert len(explore.read(snapshot=shared, client=client, engine="memory").frame) == 6
    with pytest.raises(DiasporaUsageError, match="mode"):
        explore.export(page, tmp_path / "x.csv", mode=0o044)
