"""The generator's knobs, read from the ``sample.*`` keys of params.yaml."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from echo_bench.sample.timeline import as_date

#: Thread kinds, in the order used to break ties when shares are turned into counts.
KINDS = (
    "prompt_share",
    "prompt_below",
    "fill_in_blank",
    "chat_screenshot",
    "edit_pair",
    "edit_composite",
    "multi_image",
    "text_render",
    "commentary",
    "other_model",
    "coincidental",
    "non_english",
    "retweet",
    "repost_copy",
)
#: Kinds that point at another thread of the dump, built after the others.
DERIVED_KINDS = ("retweet", "repost_copy")


@dataclass(frozen=True)
class SampleConfig:
    """Keyword defaults are for tests; the stage passes every value from params.yaml."""

    seed: int = 20250325
    n_threads: int = 300
    start: dt.date = dt.date(2025, 3, 20)
    days: int = 42
    spikes: tuple[tuple[dt.date, float], ...] = ((dt.date(2025, 3, 25), 6.0), (dt.date(2025, 4, 23), 3.0))
    image_size: int = 256
    jpeg_quality: int = 88
    page_size: int = 50
    kind_shares: Mapping[str, float] = field(
        default_factory=lambda: {
            "prompt_share": 0.16,
            "prompt_below": 0.08,
            "fill_in_blank": 0.06,
            "chat_screenshot": 0.06,
            "edit_pair": 0.10,
            "edit_composite": 0.05,
            "multi_image": 0.04,
            "text_render": 0.08,
            "commentary": 0.06,
            "other_model": 0.08,
            "coincidental": 0.08,
            "non_english": 0.07,
            "retweet": 0.05,
            "repost_copy": 0.03,
        }
    )
    duplicate_share: float = 0.03
    defect_rate: float = 0.35
    feedback_rate: float = 0.7
    n_bad: int = 6

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kind_shares) - set(KINDS))
        if unknown:
            raise ValueError(f"sample.kind_shares: unknown kinds {unknown}; known: {list(KINDS)}")
        if any(v < 0 for v in self.kind_shares.values()) or sum(self.kind_shares.values()) <= 0:
            raise ValueError("sample.kind_shares: shares must be >= 0 and not all zero")
        if self.n_threads < 1 or self.days < 1 or self.image_size < 32 or self.page_size < 1 or self.n_bad < 0:
            raise ValueError("sample: n_threads, days, page_size must be >= 1, image_size >= 32, n_bad >= 0")
        primary = sum(v for k, v in self.kind_shares.items() if k not in DERIVED_KINDS)
        if primary <= 0:
            raise ValueError("sample.kind_shares: retweets and copies need some other thread kind to point at")

    @classmethod
    def from_params(cls, params: Mapping[str, Any], prefix: str = "sample.") -> SampleConfig:
        """Read ``sample.<field>`` for every field; a missing key raises (no hidden defaults)."""
        raw = {f.name: _param(params, prefix + f.name) for f in fields(cls)}
        raw["start"] = as_date(raw["start"])
        raw["spikes"] = tuple((as_date(s["date"]), float(s["factor"])) for s in raw["spikes"] or [])
        raw["kind_shares"] = {str(k): float(v) for k, v in raw["kind_shares"].items()}
        for name in ("seed", "n_threads", "days", "image_size", "jpeg_quality", "page_size", "n_bad"):
            raw[name] = int(raw[name])
        for name in ("duplicate_share", "defect_rate", "feedback_rate"):
            raw[name] = float(raw[name])
        return cls(**raw)

    def as_json(self) -> dict[str, Any]:
        """The config as plain JSON data (recorded in the dump's README.md)."""
        return {
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "start": self.start.isoformat(),
            "spikes": [{"date": d.isoformat(), "factor": f} for d, f in self.spikes],
            "kind_shares": dict(sorted(self.kind_shares.items())),
        }


def _param(params: Mapping[str, Any], key: str) -> Any:
    """``params[key]`` for dotted keys; also accepts a nested mapping (the whole section declared)."""
    if key in params:
        return params[key]
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"param {key!r} is missing; declare it for the sample stage")
        node = node[part]
    return node


def allocate(shares: Mapping[str, float], n: int) -> dict[str, int]:
    """Split ``n`` into integer counts proportional to ``shares`` (largest remainder, ties by KINDS order)."""
    total = sum(shares.values())
    exact = {k: n * shares.get(k, 0.0) / total for k in KINDS}
    counts = {k: int(v) for k, v in exact.items()}
    left = n - sum(counts.values())
    by_remainder = sorted(KINDS, key=lambda k: (-(exact[k] - counts[k]), KINDS.index(k)))
    for k in by_remainder[:left]:
        counts[k] += 1
    return {k: c for k, c in counts.items() if c or k in shares}
