"""Decimation of the live chart: bounded points, peaks kept, order kept."""

from __future__ import annotations

import numpy as np

from diaspora_notebook.stream.plotdata import decimate


def test_a_long_series_becomes_two_points_per_bucket_and_keeps_its_peaks():
    x = np.arange(100_000).astype("datetime64[ms]")
    y = np.sin(np.arange(100_000) / 500.0)
    y[50_123], y[77_777], y[7] = 9.0, -9.0, np.nan
    xs, ys = decimate(x, y, 1_000)
    assert len(xs) == len(ys) == 2_000
    assert ys.max() == 9.0 and ys.min() == -9.0
    assert np.all(np.diff(xs.astype("int64")) >= 0)
    assert xs[-1] >= x[-1000]  # the newest points are in it


def test_a_short_series_is_unchanged():
    x, y = np.arange(10.0), np.arange(10.0) * 2
    xs, ys = decimate(x, y, 1_000)
    assert xs is x and ys is y
