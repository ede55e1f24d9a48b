"""Token and cost accounting per model, and the usage metrics file.

Prices come from ``params.yaml`` (``llm.prices``)::

    llm:
      prices:
        gpt-4o: {input_per_mtok: 2.50, output_per_mtok: 10.00,
                 batch_input_per_mtok: 1.25, batch_output_per_mtok: 5.00}

``batch_*`` prices are optional (batch calls fall back to the normal prices).
A model with no price entry costs 0 and is counted under ``unpriced_calls``.

What is counted: every attempt the provider answered with a usage block is
billed by the provider, so its tokens and cost are counted (that includes a
reply that failed JSON validation or was a refusal, which providers bill);
attempts that got no reply (429, 5xx, timeouts) cost nothing; cache hits cost
nothing.  So a request that succeeds after two 429s costs exactly one call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from echo_bench.io import write_json
from echo_bench.ledger import LEDGER_NAME, Ledger, read_ledger  # noqa: F401 - re-exported for the LLM layer

FIELDS = (
    "requests",
    "calls",
    "cached",
    "failed",
    "attempts",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "unpriced_calls",
)


def price_of(prices: Mapping[str, Any] | None, model: str) -> Mapping[str, Any] | None:
    if not prices:
        return None
    if model in prices:
        return prices[model]
    # "provider/model" names (OpenRouter) may be priced under the bare model name
    bare = model.rsplit("/", 1)[-1]
    return prices.get(bare)


def cost_usd(
    prices: Mapping[str, Any] | None, model: str, input_tokens: int, output_tokens: int, *, batch: bool
) -> float | None:
    """Dollar cost of the tokens, or None when the model has no price."""
    p = price_of(prices, model)
    if p is None:
        return None
    pin = float(p.get("batch_input_per_mtok", p["input_per_mtok"]) if batch else p["input_per_mtok"])
    pout = float(p.get("batch_output_per_mtok", p["output_per_mtok"]) if batch else p["output_per_mtok"])
    return (input_tokens * pin + output_tokens * pout) / 1_000_000


class UsageMeter:
    """Thread-safe totals by model."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_model: dict[str, dict[str, Any]] = {}

    def add(self, model: str, **counts: float) -> None:
        with self._lock:
            row = self._by_model.setdefault(model, {f: 0 for f in FIELDS})
            for k, v in counts.items():
                row[k] += v

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            out = {}
            for model, row in sorted(self._by_model.items()):
                r = dict(row)
                r["cost_usd"] = round(float(r["cost_usd"]), 6)
                out[model] = r
            return out


def total(usages_by_stage: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {f: 0 for f in FIELDS}
    for by_model in usages_by_stage.values():
        for row in by_model.values():
            for f in FIELDS:
                out[f] += row.get(f, 0)
    out["cost_usd"] = round(float(out["cost_usd"]), 6)
    return out


def write_usage(
    path: str | os.PathLike[str],
    usages_by_stage: Mapping[str, Mapping[str, Mapping[str, Any]]],
    cumulative: Mapping[str, Any] | None = None,
) -> dict:
    """Write the usage metrics for ``dvc metrics show``.

    ``{"stages": {stage: {model: counts}}, "total": counts}`` is what the
    stages' last runs did (``usages_by_stage`` maps a stage name to an
    :meth:`LLMClient.usage` dict); ``"cumulative"`` (when given, from
    :func:`read_ledger`) is everything ever sent, from the usage ledgers, so a
    fully cached re-run still shows what the results cost.  Returns the document.
    """
    doc: dict[str, Any] = {
        "stages": {
            stage: {m: dict(r) for m, r in sorted(by_model.items())}
            for stage, by_model in sorted(usages_by_stage.items())
        },
        "total": total(usages_by_stage),
    }
    if cumulative is not None:
        doc["cumulative"] = dict(cumulative)
    write_json(path, doc)
    return doc
