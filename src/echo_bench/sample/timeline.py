"""When posts happen: a window of days, with spikes on event days (releases)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

DAY_MS = 86_400_000
#: How fast a spike fades: the day after an event keeps this share of its excess volume.
SPIKE_DECAY = 0.5


def as_date(value: str | dt.date) -> dt.date:
    """A date from params (YAML gives ``datetime.date`` for unquoted dates, str otherwise)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def day_weights(start: dt.date, days: int, spikes: Sequence[tuple[dt.date, float]]) -> np.ndarray:
    """Relative post volume per day: 1 on a quiet day, ``factor`` on a spike day, fading after it."""
    weights = np.ones(days, dtype=float)
    for day, factor in spikes:
        offset = (day - start).days
        for k in range(max(offset, 0), days):
            weights[k] += (factor - 1.0) * SPIKE_DECAY ** (k - offset)
    return weights / weights.sum()


def day_start_ms(start: dt.date, offset_days: int = 0) -> int:
    midnight = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    return int(midnight.timestamp() * 1000) + offset_days * DAY_MS


def draw_time(rng: np.random.Generator, start: dt.date, weights: np.ndarray) -> int:
    """Epoch ms of a root post: a day drawn by ``weights``, a uniform time within it."""
    day = int(rng.choice(len(weights), p=weights))
    return day_start_ms(start, day) + int(rng.integers(0, DAY_MS))


def later(rng: np.random.Generator, ms: int, *, median_minutes: float, min_seconds: int = 20) -> int:
    """A time after ``ms``: log-normal delay with the given median."""
    delay_s = max(min_seconds, float(rng.lognormal(np.log(median_minutes * 60.0), 1.0)))
    return ms + int(delay_s * 1000) + int(rng.integers(0, 1000))
