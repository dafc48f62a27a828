"""Rendering helpers of the live view (pure: no kernel, no Kafka)."""

from __future__ import annotations

import math

import pandas as pd

from diaspora_notebook.notebook.widgets.renderers import svg_lines, table_html


def test_table_is_escaped_and_cells_shortened():
    df = pd.DataFrame({
        "timestamp": pd.to_datetime([1_767_225_600_123], unit="ms", utc=True),
        "value": ["<script>alert(1)</script>" + "x" * 100],
        "n": [1.5],
    })
    out = table_html(df)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "\u2026" in out
    assert "00:00:00.123" in out
    assert "1.5" in out


def test_svg_plot_draws_one_line_per_column_and_breaks_at_gaps():
    svg = svg_lines([0.0, 1.0, 2.0, 3.0], {"a": [1.0, 2.0, math.nan, 4.0], "b": [0.0] * 4})
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 3  # a: two segments around the NaN, b: one
    assert "\u2014 a" in svg and "\u2014 b" in svg


def test_svg_plot_without_numbers_says_so():
    assert "waiting for numeric data" in svg_lines([], {"a": []})
    assert "waiting for numeric data" in svg_lines([1.0], {"a": [math.nan]})
