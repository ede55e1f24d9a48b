"""Post volume: daily series after filtering, robust spike detection, events matched to spikes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from echo_bench.analyses import volume as vol

D0 = dt.date(2025, 3, 1)


def series(values: list[int]) -> pl.DataFrame:
    dates = [D0 + dt.timedelta(days=i) for i in range(len(values))]
    zeros = [0] * len(values)
    return pl.DataFrame({"date": dates, "queried": values, "relevant": values, "samples": zeros, "benchmark": zeros},
                        schema={"date": pl.Date, **{s: pl.Int64 for s in vol.SERIES}})


def test_one_burst_is_one_spike_at_its_peak_and_matches_its_event():
    rng = np.random.default_rng(0)
    x = (10 + rng.integers(-2, 3, size=40)).tolist()
    x[24], x[25] = 45, 70  # a two-day burst peaking on day 25
    table, spikes = vol.detect_spikes(series(x), vol.SpikeSettings(series="relevant", window=7, threshold=3.5, min_count=5))
    assert len(spikes) == 1
    s = spikes[0]
    assert s["peak"] == (D0 + dt.timedelta(days=25)).isoformat()
    assert s["start"] == (D0 + dt.timedelta(days=24)).isoformat() and s["days"] == 2
    assert s["peak_count"] == 70 and s["total"] == 115
    assert table["is_spike"].sum() == 2
    events, spikes = vol.match_events(spikes, [{"name": "launch", "date": D0 + dt.timedelta(days=23)},
                                               {"name": "unrelated", "date": D0 + dt.timedelta(days=5)}], tolerance_days=2)
    by = {e["name"]: e for e in events}
    assert by["launch"]["spike_peak"] == s["peak"] and by["launch"]["lag_days"] == 2
    assert by["unrelated"]["spike_peak"] is None
    assert spikes[0]["events"] == ["launch"]


def test_flat_and_noisy_series_have_no_spikes_and_min_count_is_respected():
    rng = np.random.default_rng(1)
    noisy = (20 + rng.integers(-4, 5, size=60)).tolist()
    assert vol.detect_spikes(series(noisy), vol.SpikeSettings())[1] == []
    assert vol.detect_spikes(series([0] * 30), vol.SpikeSettings())[1] == []
    small = [0] * 30
    small[10] = 4  # z is huge (MAD 0, scale floor 1) but 4 posts < min_count 5
    assert vol.detect_spikes(series(small), vol.SpikeSettings(min_count=5))[1] == []
    assert len(vol.detect_spikes(series(small), vol.SpikeSettings(min_count=3))[1]) == 1
    assert vol.detect_spikes(series(small), vol.SpikeSettings(min_count=3, min_scale=2.0))[1] == []  # z = 2 < 3.5


def test_settings_are_validated():
    with pytest.raises(ValueError):
        vol.SpikeSettings(series="likes")
    with pytest.raises(ValueError):
        vol.SpikeSettings(window=2)


def test_daily_counts_apply_the_relevance_threshold_and_fill_missing_days():
    t0 = dt.datetime(2025, 3, 1, 23, 30, tzinfo=dt.UTC)
    queried = pl.DataFrame({
        "post_id": ["a", "b", "c", "d"],
        "created_at": [t0, t0, t0 + dt.timedelta(hours=1), t0 + dt.timedelta(days=3)],  # c falls on 2 March (UTC)
        "matched_keywords": [["4o"], ["4o"], ["4o"], []],  # d: context only, not a query hit
    })
    relevance = pl.DataFrame({"post_id": ["a", "b", "c", "d"], "score": [5, 2, 3, 5], "status": ["ok", "ok", "ok", "ok"]})
    out = vol.daily_counts(queried, relevance, None, threshold=3)
    assert out["date"].to_list() == [dt.date(2025, 3, 1) + dt.timedelta(days=i) for i in range(4)]
    assert out["queried"].to_list() == [2, 1, 0, 0]
    assert out["relevant"].to_list() == [1, 1, 0, 1]  # b scores 2 < 3; d is scored and relevant
    assert vol.daily_counts(queried, relevance, None, threshold=4)["relevant"].to_list() == [1, 0, 0, 1]
