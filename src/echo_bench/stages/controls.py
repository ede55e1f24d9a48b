"""Stage: the controls report (echo_bench.controls) from the metrics table and the win rates.

Inputs: ``table`` (results/metrics/table.csv), ``winrates`` (one CSV per split,
results/judge/winrates_<split>.csv).  Outputs: ``report`` (CSV, one row per
check), ``report_json``, ``metrics`` (the DVC metrics: pass/fail counts and
every checked value), ``summary``.  Params: ``controls``, ``generate.models``
(the models with ``backend: control`` are the controls).

The known-answer checks compare the canonical controls, the models named after
their control (``identity``, ``color_cast``, ...); the other control models are
the dose-response series of ``controls.doses`` (e.g. ``color_cast_b40``), checked
for monotonicity only, so a stronger dose does not count against "the target
control is the largest".
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.controls import controls_report, summary_metrics
from echo_bench.io import write_json, write_text
from echo_bench.metrics.runner import TABLE
from echo_bench.params import StageParams


def run(inputs: dict[str, Any], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    settings = dict(params["controls"])
    models = dict(params["generate.models"])
    of_control = {m: dict(cfg) for m, cfg in models.items() if dict(cfg).get("backend") == "control"}
    controls = sorted(m for m, cfg in of_control.items() if cfg.get("control") == m)
    if not controls:
        raise ValueError("controls report: generate.models has no model named after its control "
                         "(backend: control, control: <its name>)")
    for series, spec in dict(settings.get("doses") or {}).items():
        unknown = [m for m in spec.get("models", []) if m not in of_control]
        if unknown:
            raise ValueError(f"controls.doses.{series}: {unknown} are not control models of generate.models")
    doses = sorted(set(of_control) - set(controls))
    table = pl.read_csv(inputs["table"], schema=TABLE)
    paths = inputs["winrates"] if isinstance(inputs["winrates"], list) else [inputs["winrates"]]
    winrates = {}
    for p in paths:
        m = re.search(r"winrates_(.+)\.csv$", str(p))
        if not m:
            raise ValueError(f"controls report: cannot tell the split of win-rate file {p}")
        winrates[m.group(1)] = pl.read_csv(p)
    report = controls_report(table, winrates, settings, controls)
    write_text(outputs["report"], report.write_csv())
    write_json(outputs["report_json"], report.to_dicts())
    metrics = summary_metrics(report)
    write_json(outputs["metrics"], metrics)
    for r in report.filter(pl.col("status") != "pass").iter_rows(named=True):
        log.warning("controls: %s %s %s %s: %s (%s)", r["subject"], r["split"], r["check"], r["control"],
                    r["status"], r["reason"] or r["expected"])
    log.info("controls: %d checks, %d passed, %d failed, %d skipped", metrics["checks"], metrics["pass"],
             metrics["fail"], metrics["skipped"])
    return {"controls": controls, "dose_models": doses, "checks": metrics["checks"], "passed": metrics["pass"], "failed": metrics["fail"],
            "skipped": metrics["skipped"], "all_passed": metrics["all_passed"],
            "outputs": {k: str(Path(v)) for k, v in outputs.items()}}
