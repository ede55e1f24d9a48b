"""Runs one pipeline stage from a Snakemake rule (or from the command line).

A stage is a module with ``run(inputs, outputs, params, log) -> dict``: named
input and output paths, the dotted params its rule declared, and a logger.  The
dict it returns (counts of what it read, kept and dropped, and why) becomes the
stage summary ``outputs["summary"]`` in ``results/stages/``.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from echo_bench import params as params_mod
from echo_bench.io import write_json
from echo_bench.log import stage_logger


def run_stage(
    stage: str,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    params: Mapping[str, Any],
    log_path: str | None = None,
) -> dict[str, Any]:
    module = importlib.import_module(f"echo_bench.stages.{stage}")
    log = stage_logger(stage, log_path)
    stage_params = params_mod.StageParams(params)
    log.info("stage %s: inputs %s", stage, dict(inputs))
    if outputs.get("cache"):  # a response cache kept between runs; DVC expects it even if nothing was cached
        Path(outputs["cache"]).mkdir(parents=True, exist_ok=True)
    summary = module.run(dict(inputs), dict(outputs), stage_params, log) or {}
    summary = {"stage": stage, **summary}
    if "summary" in outputs:
        write_json(outputs["summary"], summary)
    log.info("stage %s: summary %s", stage, summary)
    return summary


def run_from_snakemake(smk: Any) -> None:
    """Entry for ``script:`` rules: the rule name is the stage name."""
    log_path = smk.log[0] if len(smk.log) else None
    params = dict(smk.params.get("cfg", {}))
    params.update(dict(smk.wildcards.items()))  # e.g. split and model of a per-model rule
    outputs = dict(smk.output.items())
    if smk.params.get("cache"):
        outputs["cache"] = smk.params.get("cache")  # kept between runs: see workflow/dvcgen.py
    stage = smk.params.get("stage", smk.rule)
    run_stage(stage, dict(smk.input.items()), outputs, params, log_path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Run one ECHO stage outside Snakemake.")
    ap.add_argument("stage")
    ap.add_argument("--input", "-i", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--output", "-o", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--param", "-p", action="append", default=[], metavar="DOTTED.KEY")
    ap.add_argument("--params-file", default="params.yaml")
    ap.add_argument("--log")
    a = ap.parse_args(argv)
    every = params_mod.load(a.params_file)
    run_stage(
        a.stage,
        dict(kv.split("=", 1) for kv in a.input),
        dict(kv.split("=", 1) for kv in a.output),
        params_mod.select(every, a.param),
        a.log,
    )


if __name__ == "__main__":
    main()
