"""Quarantine: the records a stage could not use, each with its reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from echo_bench.schemas import QUARANTINE

RAW_LIMIT = 2000


@dataclass
class Quarantine:
    """Collects rejected records of one stage; becomes a QUARANTINE frame."""

    stage: str
    rows: list[dict[str, str | None]] = field(default_factory=list)

    def add(
        self,
        reason: str,
        detail: str,
        *,
        source_file: str = "",
        source_record: str = "",
        raw: str = "",
        raw_limit: int | None = RAW_LIMIT,
    ) -> None:
        """One rejected record; ``raw`` is cut at ``raw_limit`` characters (None: kept whole)."""
        self.rows.append(
            {
                "stage": self.stage,
                "source_file": source_file,
                "source_record": source_record,
                "reason": reason,
                "detail": detail,
                "raw": raw if raw_limit is None else raw[:raw_limit],
            }
        )

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r["reason"] for r in self.rows).items()))

    def __len__(self) -> int:
        return len(self.rows)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=QUARANTINE, orient="row") if self.rows else pl.DataFrame(schema=QUARANTINE)
