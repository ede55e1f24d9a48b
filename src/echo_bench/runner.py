"""Runs one pipeline stage from a Snakemake rule (or from the command line).

A stage is a module with ``run(inputs, outputs, params, log) -> dict``: named
input and output paths, the dotted params its rule declared, and a logger.  The
dict it returns (counts of what it read, kept and dropped, and why) becomes the
stage summary ``outputs["summary"]`` in ``results/stages/``.

Failure: a stage that raises :class:`echo_bench.secrets.StageFailed` (e.g.
:class:`echo_bench.llm.LLMStageError`: a failed preflight, too many failed
requests) exits non-zero with the message on stderr
and in its log, and the runner removes whatever outputs the stage had written,
so neither Snakemake nor DVC records a result and the next ``dvc repro`` runs
it again; the response cache (with its usage ledger) is kept.  Every log line
has the values of the configured API-key variables redacted
(:mod:`echo_bench.secrets`).
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from echo_bench import params as params_mod
from echo_bench.io import write_json
from echo_bench import secrets
from echo_bench.ledger import LEDGER_NAME, read_ledger
from echo_bench.secrets import StageFailed
from echo_bench.log import stage_logger

#: Read for the API-key variables it names (redacted from every log line), when present.
PARAMS_FILE = Path("params.yaml")


def register_key_variables(params: Mapping[str, Any]) -> None:
    """Register every ``api_key_env`` of the stage's params and of params.yaml for redaction."""
    names = secrets.key_envs_in(params)
    if PARAMS_FILE.is_file():
        try:
            names += secrets.key_envs_in(params_mod.load(PARAMS_FILE))
        except Exception:  # noqa: BLE001 - a broken params.yaml is reported by the stage that reads it
            pass
    secrets.register(*names)


def remove_outputs(outputs: Mapping[str, Any]) -> list[str]:
    """Delete the outputs a failed stage may have written (never its response cache)."""
    removed = []
    for name, path in outputs.items():
        if name == "cache" or not path:
            continue
        for p in [path] if isinstance(path, (str, Path)) else list(path):
            p = Path(p)
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                removed.append(str(p))
            elif p.exists():
                p.unlink(missing_ok=True)
                removed.append(str(p))
    return removed


def ledger_totals(cache_dir: str | Path) -> dict[str, Any]:
    """{step: {model: sums}} of everything the stage's usage ledger records (empty when there is none)."""
    path = Path(cache_dir) / LEDGER_NAME
    return read_ledger([path])["stages"] if path.is_file() else {}


def run_stage(
    stage: str,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    params: Mapping[str, Any],
    log_path: str | None = None,
) -> dict[str, Any]:
    module = importlib.import_module(f"echo_bench.stages.{stage}")
    log = stage_logger(stage, log_path)
    register_key_variables(params)
    for handler in log.handlers:
        handler.addFilter(secrets.RedactingFilter())
    stage_params = params_mod.StageParams(params)
    log.info("stage %s: inputs %s", stage, dict(inputs))
    if outputs.get("cache"):  # a response cache kept between runs; DVC expects it even if nothing was cached
        Path(outputs["cache"]).mkdir(parents=True, exist_ok=True)
    try:
        summary = module.run(dict(inputs), dict(outputs), stage_params, log) or {}
    except StageFailed as e:
        removed = remove_outputs(outputs)
        log.error("stage %s FAILED: %s", stage, e)
        if removed:
            log.error("stage %s: removed its partial outputs %s", stage, removed)
        raise
    summary = {"stage": stage, **summary}
    if outputs.get("cache") and "llm_usage" in summary:
        summary["llm_cumulative"] = ledger_totals(outputs["cache"])
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
    try:
        run_stage(stage, dict(smk.input.items()), outputs, params, log_path)
    except StageFailed as e:
        # the message is in the log and on stderr already; exit non-zero without a traceback
        print(f"echo-bench: stage {stage} failed: {e}", file=sys.stderr)
        raise SystemExit(1) from None


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
    try:
        run_stage(
            a.stage,
            dict(kv.split("=", 1) for kv in a.input),
            dict(kv.split("=", 1) for kv in a.output),
            params_mod.select(every, a.param),
            a.log,
        )
    except StageFailed as e:
        print(f"echo-bench: stage {a.stage} failed: {e}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
