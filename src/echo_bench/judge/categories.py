"""Win rates and Bradley-Terry per task category and per metric-applicability class.

Two groupings of a split's prompts, each analysed exactly like the whole split
(:func:`echo_bench.judge.report.analyze`: the same vote, missing-output rule,
bootstrap over the prompts *of the group* and Bradley-Terry fit):

* ``category`` -- the prompt's *primary* task category from the offline
  taxonomy rules (:func:`echo_bench.analyses.taxonomy.classify` on the prompt
  and task type; docs/analyses.md).  Every prompt is in exactly one category.
* ``applicability`` -- for each community-driven metric of the metrics table,
  the prompts it applies to (``applicable:<metric>``: at least one row of the
  sample and metric whose status is not ``not_applicable``) and ``applicable:none``
  for prompts no metric applies to.  A prompt can be in several classes.  Without
  a metrics table there is no applicability grouping.

A group with fewer than ``min_prompts`` prompts is reported with its counts but
without win rates (``status = too_few_prompts``), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from echo_bench.analyses.taxonomy import CATEGORIES, PRODUCER, classify
from echo_bench.judge.report import analyze

#: One row per (grouping, group, model).
GROUP_WINRATES = pl.Schema(
    {
        "split": pl.Utf8,
        "grouping": pl.Utf8,  # category | applicability
        "group": pl.Utf8,  # the primary task category, or applicable:<metric> / applicable:none
        "prompts": pl.Int64,
        "status": pl.Utf8,  # ok | too_few_prompts
        "model": pl.Utf8,
        "win_rate": pl.Float64,
        "win_rate_ci_low": pl.Float64,
        "win_rate_ci_high": pl.Float64,
        "bt_elo": pl.Float64,
        "bt_elo_ci_low": pl.Float64,
        "bt_elo_ci_high": pl.Float64,
        "battles": pl.Int64,
    }
)

#: One row per (grouping, group, sample): which prompts a group holds.
SAMPLE_GROUPS = pl.Schema({"sample_id": pl.Utf8, "grouping": pl.Utf8, "group": pl.Utf8})

NOT_APPLICABLE = "not_applicable"


def sample_groups(samples: pl.DataFrame, metric_values: pl.DataFrame | None = None) -> pl.DataFrame:
    """SAMPLE_GROUPS rows: the primary task category of each sample, and its metric-applicability classes."""
    rows: list[dict[str, str]] = []
    ids = samples["sample_id"].to_list()
    for sid, prompt, task in samples.select("sample_id", "prompt", "task_type").iter_rows():
        rows.append({"sample_id": sid, "grouping": "category", "group": classify(prompt, task)[1]})
    if metric_values is not None:
        known = set(ids)
        applicable = (
            metric_values.filter(pl.col("sample_id").is_in(ids))
            .group_by("sample_id", "metric")
            .agg((pl.col("status") != NOT_APPLICABLE).any().alias("applies"))
            .filter(pl.col("applies"))
        )
        has_any: set[str] = set()
        for sid, metric in applicable.select("sample_id", "metric").sort("metric", "sample_id").iter_rows():
            rows.append({"sample_id": sid, "grouping": "applicability", "group": f"applicable:{metric}"})
            has_any.add(sid)
        for sid in sorted(known - has_any):
            rows.append({"sample_id": sid, "grouping": "applicability", "group": "applicable:none"})
    if not rows:
        return pl.DataFrame(schema=SAMPLE_GROUPS)
    return pl.DataFrame(rows, schema=SAMPLE_GROUPS).sort("grouping", "group", "sample_id")


def _group_order(grouping: str, group: str) -> tuple[int, int, str]:
    if grouping == "category":
        return (0, CATEGORIES.index(group) if group in CATEGORIES else len(CATEGORIES), group)
    return (1, 1 if group == "applicable:none" else 0, group)


def group_win_rates(
    judgments: pl.DataFrame,
    groups: pl.DataFrame,
    *,
    weights: Mapping[str, float],
    min_prompts: int = 1,
    **analyze_kw: Any,
) -> pl.DataFrame:
    """GROUP_WINRATES of every group of ``groups`` (the analysis of :func:`analyze` on the group's prompts)."""
    split = judgments["split"].drop_nulls().first() if judgments.height else None
    models = sorted(set(judgments["model"].to_list()))
    keys = sorted({(g, grp) for g, grp in groups.select("grouping", "group").iter_rows()}, key=lambda k: _group_order(*k))
    out: list[dict[str, Any]] = []
    for grouping, group in keys:
        ids = groups.filter((pl.col("grouping") == grouping) & (pl.col("group") == group))["sample_id"].to_list()
        sub = judgments.filter(pl.col("sample_id").is_in(ids))
        n = sub["sample_id"].n_unique()
        base = {"split": split, "grouping": grouping, "group": group, "prompts": n}
        if n < max(1, min_prompts):
            out += [{**base, "status": "too_few_prompts", "model": m} for m in models]
            continue
        per_model, _ = analyze(sub, weights=weights, **analyze_kw)
        for r in per_model.iter_rows(named=True):
            out.append({**base, "status": "ok", **{k: r[k] for k in GROUP_WINRATES if k in r}})
    if not out:
        return pl.DataFrame(schema=GROUP_WINRATES)
    return pl.DataFrame(out, schema=GROUP_WINRATES)


def group_summary(table: pl.DataFrame, groups: pl.DataFrame) -> dict[str, Any]:
    """JSON-ready: per grouping and group, the prompt count, the top model and every model's win rate with interval."""
    doc: dict[str, Any] = {"producer": "echo_bench.judge.categories", "taxonomy": PRODUCER, "groupings": {}}
    for grouping in ("category", "applicability"):
        sub = table.filter(pl.col("grouping") == grouping)
        entries = {}
        for group in dict.fromkeys(sub["group"].to_list()):
            g = sub.filter(pl.col("group") == group)
            ok = g.filter((pl.col("status") == "ok") & pl.col("win_rate").is_not_null()).sort(
                ["win_rate", "model"], descending=[True, False]
            )
            entries[group] = {
                "prompts": int(g["prompts"][0]),
                "status": g["status"][0],
                "top_model": ok["model"][0] if ok.height else None,
                "win_rate": {r["model"]: r["win_rate"] for r in g.iter_rows(named=True)},
                "win_rate_ci_low": {r["model"]: r["win_rate_ci_low"] for r in g.iter_rows(named=True)},
                "win_rate_ci_high": {r["model"]: r["win_rate_ci_high"] for r in g.iter_rows(named=True)},
                "bt_elo": {r["model"]: r["bt_elo"] for r in g.iter_rows(named=True)},
            }
        doc["groupings"][grouping] = entries
    doc["samples_per_group"] = {
        f"{g}/{grp}": int(n) for g, grp, n in groups.group_by("grouping", "group").len().sort("grouping", "group").iter_rows()
    }
    return doc


def headline(summary: Mapping[str, Any]) -> dict[str, Any]:
    """DVC metrics: per group, the prompt count and each model's win rate (flat enough for `dvc metrics show`)."""
    out: dict[str, Any] = {}
    for grouping, entries in summary["groupings"].items():
        for group, e in entries.items():
            out[f"{grouping}/{group}"] = {"prompts": e["prompts"], **{m: v for m, v in e["win_rate"].items()}}
    return out
