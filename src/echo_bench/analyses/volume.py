"""Post volume per day after filtering, spikes, and the events they line up with.

Series (one count per UTC calendar day, missing days are zeros):

* ``queried``  -- posts the keyword query matched (``matched_keywords`` not empty);
  posts kept only as conversation context are not counted;
* ``relevant`` -- of those, posts whose relevance score (status ok) is at least the
  threshold (``relevance.threshold``);
* ``samples``  -- samples of all splits (analysis and benchmark), by the time of
  their thread's root post: what survived relevance *and* quality filtering;
* ``benchmark`` -- samples of the benchmark splits only.

Spikes (method of :func:`detect_spikes`): a Hampel-style robust z-score.  For each
day ``t`` the median ``m_t`` and the median absolute deviation ``MAD_t`` of the
counts in a centred window of ``window`` days (cut at the ends of the series) give
``z_t = (x_t - m_t) / max(1.4826 * MAD_t, sqrt(m_t), min_scale)``; a day with
``z_t >= threshold`` and at least ``min_count`` posts is a spike day, and runs of
consecutive spike days form one spike (its peak is the day with the most posts).
The floors keep small counts from looking like outliers: ``sqrt(m_t)`` is the
standard deviation of a Poisson count with mean ``m_t`` (a 7-day window of
integer counts often has a MAD of 0 or 1, far below the day-to-day noise of a
count; ``poisson_floor: false`` drops this floor), and ``min_scale`` keeps a flat
series (MAD 0) from turning every small bump into an infinite z-score.

Events (``name``, ``date``) are matched to the spike whose days, widened by
``tolerance_days`` on each side, contain the event's date (nearest peak first).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

SERIES = ("queried", "relevant", "samples", "benchmark")
MAD_TO_SD = 1.4826  # MAD of a normal distribution times this is its standard deviation


@dataclass(frozen=True)
class SpikeSettings:
    series: str = "relevant"
    window: int = 7
    threshold: float = 3.5
    min_count: int = 5
    min_scale: float = 1.0
    tolerance_days: int = 2
    poisson_floor: bool = True

    def __post_init__(self) -> None:
        if self.series not in SERIES:
            raise ValueError(f"analyses.volume.series must be one of {SERIES}, got {self.series!r}")
        if self.window < 3:
            raise ValueError("analyses.volume.window must be >= 3 days")
        if self.min_scale <= 0:
            raise ValueError("analyses.volume.min_scale must be > 0")


def as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


#: Microseconds since 1970 of 0001-01-01 and 10000-01-01 (UTC): the days Python's ``datetime.date`` can hold.
_FIRST_US, _END_US = -62_135_596_800_000_000, 253_402_300_800_000_000


def _per_day(times: pl.Series) -> dict[dt.date, int]:
    times = times.drop_nulls()
    if isinstance(times.dtype, pl.Datetime):  # any instant polars holds; days Python cannot hold are not counted
        times = times.dt.convert_time_zone("UTC") if times.dtype.time_zone else times
        us = times.dt.timestamp("us")
        times = times.filter((us >= _FIRST_US) & (us < _END_US))
    if times.is_empty():
        return {}
    days = times.dt.date() if isinstance(times.dtype, pl.Datetime) else times
    counts = days.value_counts()
    return {d: int(n) for d, n in counts.iter_rows()}


def daily_counts(
    queried: pl.DataFrame | None,
    relevance: pl.DataFrame | None,
    samples: pl.DataFrame | None,
    *,
    threshold: float,
    benchmark_splits: Sequence[str] = ("text_to_image", "image_to_image"),
    start: Any = None,
    end: Any = None,
) -> pl.DataFrame:
    """One row per day from the first to the last day any series has posts: date and every series.

    ``queried`` needs post_id, created_at, matched_keywords; ``relevance`` post_id,
    score, status; ``samples`` split, created_at.  Any of them may be None (its
    series is then all zeros, and ``relevant`` is zeros without both of the first two).
    ``start``/``end`` (dates, inclusive) fix the range instead.
    """
    per: dict[str, dict[dt.date, int]] = {s: {} for s in SERIES}
    if queried is not None and queried.height:
        hits = queried.filter(pl.col("matched_keywords").list.len() > 0)
        per["queried"] = _per_day(hits["created_at"])
        if relevance is not None and relevance.height:
            ok = relevance.filter((pl.col("status") == "ok") & (pl.col("score") >= threshold))
            ids = ok.select("post_id").unique()
            # every scored post that is in the query counts, keyword hit or not (roots are scored as context)
            rel = queried.unique("post_id", keep="first").join(ids, on="post_id", how="inner")
            per["relevant"] = _per_day(rel["created_at"])
    if samples is not None and samples.height:
        per["samples"] = _per_day(samples["created_at"])
        per["benchmark"] = _per_day(samples.filter(pl.col("split").is_in(list(benchmark_splits)))["created_at"])
    days = sorted({d for v in per.values() for d in v})
    lo = as_date(start) if start is not None else (days[0] if days else None)
    hi = as_date(end) if end is not None else (days[-1] if days else None)
    if lo is None or hi is None or hi < lo:
        return pl.DataFrame(schema={"date": pl.Date, **{s: pl.Int64 for s in SERIES}})
    dates = [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]
    return pl.DataFrame(
        {"date": dates, **{s: [per[s].get(d, 0) for d in dates] for s in SERIES}},
        schema={"date": pl.Date, **{s: pl.Int64 for s in SERIES}},
    )


def robust_z(counts: np.ndarray, window: int, min_scale: float, poisson_floor: bool = True
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, rolling median, rolling scale) of a count series; centred window cut at the ends."""
    x = np.asarray(counts, dtype=np.float64)
    n = x.size
    half = window // 2
    med = np.empty(n)
    scale = np.empty(n)
    for t in range(n):
        w = x[max(0, t - half) : min(n, t + half + 1)]
        m = float(np.median(w))
        med[t] = m
        floor = max(min_scale, float(np.sqrt(max(m, 0.0)))) if poisson_floor else min_scale
        scale[t] = max(MAD_TO_SD * float(np.median(np.abs(w - m))), floor)
    return (x - med) / scale if n else np.zeros(0), med, scale


def detect_spikes(volume: pl.DataFrame, settings: SpikeSettings) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """``volume`` with ``median``, ``scale``, ``z``, ``is_spike`` columns for the chosen series, and the spikes.

    A spike: ``start``, ``end``, ``peak`` (dates), ``peak_count``, ``peak_z``,
    ``days``, ``total`` posts over its days.
    """
    x = volume[settings.series].to_numpy() if volume.height else np.zeros(0)
    z, med, scale = robust_z(x, settings.window, settings.min_scale, settings.poisson_floor)
    flag = (z >= settings.threshold) & (x >= settings.min_count)
    out = volume.with_columns(
        pl.Series("median", med, dtype=pl.Float64).round(4),
        pl.Series("scale", scale, dtype=pl.Float64).round(4),
        pl.Series("z", z, dtype=pl.Float64).round(4),
        pl.Series("is_spike", flag, dtype=pl.Boolean),
    )
    dates = volume["date"].to_list() if volume.height else []
    spikes: list[dict[str, Any]] = []
    t = 0
    while t < len(dates):
        if not flag[t]:
            t += 1
            continue
        u = t
        while u + 1 < len(dates) and flag[u + 1]:
            u += 1
        seg = slice(t, u + 1)
        peak = t + int(np.argmax(x[seg]))  # first day with the most posts
        spikes.append(
            {
                "start": dates[t].isoformat(),
                "end": dates[u].isoformat(),
                "peak": dates[peak].isoformat(),
                "peak_count": int(x[peak]),
                "peak_z": round(float(z[peak]), 4),
                "peak_median": round(float(med[peak]), 4),
                "days": u - t + 1,
                "total": int(x[seg].sum()),
            }
        )
        t = u + 1
    return out, spikes


def match_events(
    spikes: list[dict[str, Any]], events: Sequence[Mapping[str, Any]], tolerance_days: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events with the spike they explain or None, spikes with the event names they match)."""
    tol = dt.timedelta(days=int(tolerance_days))
    out_events: list[dict[str, Any]] = []
    spikes = [dict(s, events=[]) for s in spikes]
    for ev in sorted(events, key=lambda e: (as_date(e["date"]), str(e["name"]))):
        day = as_date(ev["date"])
        near = [
            s for s in spikes
            if as_date(s["start"]) - tol <= day <= as_date(s["end"]) + tol
        ]
        near.sort(key=lambda s: (abs((as_date(s["peak"]) - day).days), s["peak"]))
        hit = near[0] if near else None
        if hit is not None:
            hit["events"].append(str(ev["name"]))
        out_events.append(
            {
                "name": str(ev["name"]),
                "date": day.isoformat(),
                "spike_peak": hit["peak"] if hit else None,
                "spike_peak_count": hit["peak_count"] if hit else None,
                "spike_peak_z": hit["peak_z"] if hit else None,
                "lag_days": (as_date(hit["peak"]) - day).days if hit else None,
            }
        )
    return out_events, spikes


def figure(
    volume: pl.DataFrame,
    spikes: list[dict[str, Any]],
    events: list[dict[str, Any]],
    settings: SpikeSettings,
    pdf: str | None,
    png: str | None,
    *,
    title: str = "",
) -> None:
    """Daily posts of the chosen series (bars), the keyword query (line), spikes and events."""
    from echo_bench.analyses import plots

    with plots.style():
        fig, ax = plots.plt.subplots(figsize=(7.0, 3.0))
        if volume.height:
            d = np.array(volume["date"].to_list(), dtype="datetime64[D]")
            y = volume[settings.series].to_numpy()
            ax.bar(d, y, width=0.85, color=plots.PALETTE[0], label=f"{settings.series} posts per day")
            if settings.series != "queried" and volume["queried"].sum() > 0:
                ax.plot(d, volume["queried"].to_numpy(), color="#8C8C8C", linewidth=1.0, label="keyword query")
            for s in spikes:
                p = np.datetime64(s["peak"], "D")
                ax.plot([p], [s["peak_count"]], marker="v", color=plots.PALETTE[3], markersize=6, linestyle="none")
            top = max(float(volume[settings.series].max() or 0), float(volume["queried"].max() or 0), 1.0)
            for i, ev in enumerate(events):
                e = np.datetime64(ev["date"], "D")
                ax.axvline(e, color="black", linestyle="--", linewidth=0.8)
                ax.text(e, top * (0.97 - 0.1 * (i % 3)), f" {ev['name']}", fontsize=7, va="top", ha="left")
            ax.set_ylim(0, top * 1.08)
            ax.legend(loc="upper right", fontsize=7, frameon=False)
            fig.autofmt_xdate()
        else:
            ax.text(0.5, 0.5, "no posts", ha="center", va="center", transform=ax.transAxes)
        ax.set_ylabel("posts per day (UTC)")
        sub = (f"spikes: robust z >= {settings.threshold:g} (window {settings.window} d, "
               f"min {settings.min_count} posts) marked \u25bc; events dashed")
        ax.set_title((title + "\n" if title else "") + sub, fontsize=8)
        fig.tight_layout()
        plots.save(fig, pdf, png)
