"""The cost ledger: an append-only log of every LLM request that reached a provider.

One JSON line per request (stage, backend, model, template, cache key, ok,
error code, attempts, tokens, cost, UTC time), written by
:class:`echo_bench.llm.LLMClient` as each request finishes, into
``<response cache folder>/usage-ledger.jsonl``.  The response cache folder is a
DVC ``persist`` out, so the ledger is versioned and pushed with it and never
wiped by ``dvc repro``; lines of a run that failed stay in the workspace and are
committed with the next successful run.  ``results/metrics/llm_usage.json``
shows its totals as ``cumulative`` beside the last run's counts.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: The usage ledger's file name inside a stage's response cache folder.
LEDGER_NAME = "usage-ledger.jsonl"
#: What the ledger sums per (stage, model).
LEDGER_FIELDS = ("requests_sent", "failed", "attempts", "input_tokens", "output_tokens", "cost_usd")


class Ledger:
    """The append-only usage log of a stage: one JSON line per request that reached the provider.

    It lives in the stage's response cache folder, which DVC versions as a
    ``persist`` out: ``dvc repro`` never wipes it, a failed run's lines stay in
    the workspace and are committed with the next successful run, and
    ``dvc push`` shares it.  Lines are only ever appended (one ``write`` of a
    whole line, flushed), so a killed run loses at most the line it was writing;
    :func:`read_ledger` skips such a torn line and counts it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, entry: Mapping[str, Any]) -> None:
        line = json.dumps(
            {"time": datetime.now(UTC).isoformat(timespec="seconds"), **entry}, sort_keys=True, ensure_ascii=False
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()


def ledger_lines(path: str | os.PathLike[str]) -> Iterator[dict[str, Any] | None]:
    """The entries of a ledger file (None for a line that does not parse, e.g. torn by a kill)."""
    p = Path(path)
    if not p.is_file():
        return
    with open(p, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                yield None
                continue
            yield entry if isinstance(entry, dict) else None


def read_ledger(paths: Iterable[str | os.PathLike[str]]) -> dict[str, Any]:
    """Cumulative spend over ledgers: ``{"stages": {stage: {model: sums}}, "total": sums, "unreadable_lines": n}``."""
    stages: dict[str, dict[str, dict[str, Any]]] = {}
    bad = 0
    for path in paths:
        for e in ledger_lines(path):
            if e is None:
                bad += 1
                continue
            row = stages.setdefault(str(e.get("stage", "?")), {}).setdefault(
                str(e.get("model", "?")), {f: 0 for f in LEDGER_FIELDS}
            )
            row["requests_sent"] += 1
            row["failed"] += 0 if e.get("ok") else 1
            for f in ("attempts", "input_tokens", "output_tokens", "cost_usd"):
                row[f] += e.get(f) or 0
    tot: dict[str, Any] = {f: 0 for f in LEDGER_FIELDS}
    for by_model in stages.values():
        for row in by_model.values():
            row["cost_usd"] = round(float(row["cost_usd"]), 6)
            for f in LEDGER_FIELDS:
                tot[f] += row[f]
    tot["cost_usd"] = round(float(tot["cost_usd"]), 6)
    return {
        "stages": {s: dict(sorted(m.items())) for s, m in sorted(stages.items())},
        "total": tot,
        "unreadable_lines": bad,
    }
