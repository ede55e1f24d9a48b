"""Evaluate my model: a folder of outputs -> its win rate and metrics against the released models.

Nothing upstream is re-run: the samples, the released models' judgments and metric values and
the metric applicability verdicts come from a release folder (``data/release`` after
``dvc pull``, or what ``dvc get`` / ``dvc import`` fetched).  Only the new model goes through
the pipeline's own code, with the settings recorded in the release (``release.json``):

1. import: ``<outputs>/<split>/<sample_id>.{png,jpg,jpeg,webp}`` through the generate stage's
   ``import`` backend and image hygiene (a missing file is status ``missing``);
2. metrics: the metrics stage on the new outputs, with the released applicability verdicts;
3. judge: every released judge grades the new outputs (single-answer grading: a judgment
   depends on one output only, so the released models' judgments stay valid);
4. win rates: the winrates stage on released + new judgments; the metric table from
   released + new metric values.

Results go to ``<out>/<split>/`` (winrates.json, winrates.csv, metrics_table.csv, the new
model's manifest, judgments and metric values) and ``<out>/evaluation.json``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.io import read_json, read_parquet, write_json, write_parquet
from echo_bench.params import StageParams
from echo_bench.release import loader
from echo_bench.release.export import BENCHMARK_SPLITS
from echo_bench.schemas import GENERATIONS, JUDGMENTS, METRIC_VALUES


class EvaluateError(ValueError):
    pass


def evaluate(
    release: str | os.PathLike[str],
    outputs: str | os.PathLike[str],
    name: str,
    out: str | os.PathLike[str],
    *,
    splits: list[str] | None = None,
    log: logging.Logger | None = None,
) -> dict[str, Any]:
    """Score the outputs folder ``outputs`` as model ``name``; write results under ``out``; return the summary."""
    from echo_bench.generate.backends import make_backend
    from echo_bench.generate.hygiene import SizePolicy
    from echo_bench.generate.run import generate_split
    from echo_bench.metrics.applicability import APPLICABILITY
    from echo_bench.stages import judge as judge_stage
    from echo_bench.stages import metrics as metrics_stage
    from echo_bench.stages import winrates as winrates_stage

    log = log or logging.getLogger("echo_bench.evaluate")
    release = Path(release).resolve()
    outputs = Path(outputs).resolve()
    out = Path(out).resolve()
    doc = loader.info(release)
    settings = doc["settings"]
    released = sorted(doc["backends"].get("models", {}))
    if name in released:
        raise EvaluateError(f"model name {name!r} is already a released model ({released}); pick another")
    if not outputs.is_dir():
        raise EvaluateError(f"outputs folder {outputs} does not exist")
    splits = list(splits or BENCHMARK_SPLITS)
    present = [s for s in splits if (outputs / s).is_dir()]
    if not present:
        raise EvaluateError(f"{outputs} has none of the split folders {splits} (expected <outputs>/<split>/<sample_id>.png)")
    gen_cfg = settings["generate"]
    params = StageParams({"metrics": settings["metrics"], "judge": settings["judge"], "llm.prices": {}})
    summary: dict[str, Any] = {"model": name, "release": {"name": doc["name"], "version": doc["version"]},
                               "outputs": str(outputs), "released_models": released, "splits": {}}
    for split in splits:
        if split not in present:
            log.warning("evaluate: no folder %s; every %s sample counts as missing", outputs / split, split)
        d = out / split
        work = out / "work"
        samples = loader.materialize_samples(release, split, work)
        samples_path = work / "samples" / f"{split}.parquet"
        write_parquet(samples, samples_path)
        with contextlib.chdir(work):
            backend = make_backend(name, {"backend": "import", "path": str(outputs)}, split=split, root=work,
                                   call={}, control_defaults={})
            gens, gsum = generate_split(samples, backend, split=split, model=name,
                                        images_dir=work / "generated" / split / name, seed=int(gen_cfg["seed"]),
                                        policy=SizePolicy.from_params(dict(gen_cfg["image"])), root=work, log=log)
            gens = gens.with_columns(
                pl.col("output_image").map_elements(lambda p: str((work / p).resolve()), return_dtype=pl.Utf8))
            write_parquet(gens, d / "generations.parquet", GENERATIONS)
            app_path = work / "applicability" / f"{split}.parquet"
            write_parquet(loader.load_split(release, split, "applicability"), app_path, APPLICABILITY)
            metrics_stage.run(
                {"samples": str(samples_path), "generations": str(d / "generations.parquet"),
                 "applicability": str(app_path)},
                {"values": str(d / "metric_values.parquet"), "table": str(work / f"metrics_{split}.csv"),
                 "cache": str(work / "cache" / "metrics")},
                params, log)
            judge_stage.run(
                {"samples": str(samples_path), "generations": str(d / "generations.parquet"),
                 "metrics": str(d / "metric_values.parquet")},
                {"judgments": str(d / "judgments.parquet"), "cache": str(work / "cache" / "judge")},
                params, log)
        new_j = read_parquet(d / "judgments.parquet", JUDGMENTS)
        old_j = loader.load_split(release, split, "judgments").select(JUDGMENTS.names())
        both_j = work / f"judgments_all_{split}.parquet"
        write_parquet(pl.concat([old_j.cast(JUDGMENTS), new_j]), both_j, JUDGMENTS)
        winrates_stage.run({"judgments": str(both_j)},
                           {"table": str(d / "winrates.csv"), "json": str(d / "winrates.json"),
                            "metrics": str(d / "headline.json"), "plot": str(work / f"plot_{split}.csv")},
                           StageParams({**params, "split": split}), log)
        old_v = work / f"released_values_{split}.parquet"
        write_parquet(loader.load_split(release, split, "metric_values").select(METRIC_VALUES.names()), old_v,
                      METRIC_VALUES)
        metrics_stage.merge({"values": [str(old_v), str(d / "metric_values.parquet")]},
                            {"values": str(work / f"values_all_{split}.parquet"), "table": str(d / "metrics_table.csv")},
                            params, log)
        summary["splits"][split] = _split_summary(name, gsum, read_json(d / "winrates.json"),
                                                  pl.read_csv(d / "metrics_table.csv"))
        log.info("evaluate %s: %s win rate %s (rank %s of %s)", split, name, summary["splits"][split]["win_rate"],
                 summary["splits"][split]["rank"], summary["splits"][split]["models"])
    write_json(out / "evaluation.json", summary)
    return summary


def _split_summary(name: str, gsum: dict[str, Any], winrates: dict[str, Any], table: pl.DataFrame) -> dict[str, Any]:
    models = winrates["models"]
    mine = next((m for m in models if m["model"] == name), None)
    ranked = [m["model"] for m in models if m["win_rate"] is not None]
    metric_rows = table.filter(pl.col("model") == name) if "model" in table.columns else table.clear()
    return {
        "status": {k.removeprefix("status_"): v for k, v in gsum.items() if k.startswith("status_")},
        "win_rate": mine["win_rate"] if mine else None,
        "win_rate_ci": [mine["win_rate_ci_low"], mine["win_rate_ci_high"]] if mine else None,
        "rank": ranked.index(name) + 1 if name in ranked else None,
        "models": len(ranked),
        "win_rates": {m["model"]: m["win_rate"] for m in models},
        "metrics": {r["metric"]: r["value"] for r in metric_rows.iter_rows(named=True)},
    }
