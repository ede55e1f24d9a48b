"""Provenance record: package versions, git commit, params hash, backends used."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from echo_bench import params as params_mod
from echo_bench.llm.usage import write_usage
from echo_bench.io import paths, read_json, write_json

PACKAGES = (
    "echo-bench",
    "dvc",
    "snakemake",
    "polars",
    "numpy",
    "pillow",
    "torch",
    "kornia",
    "rapidfuzz",
    "rapidocr",
    "onnxruntime",
    "openai",
    "anthropic",
    "dlib-bin",
    "scikit-image",
    "matplotlib",
)
LOCK_FILE = Path("requirements.lock")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def params_hash(path: str | Path) -> str:
    canonical = json.dumps(params_mod.load(path), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def backends_used(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Each stage's declared backends (stages put them under "backends" in their summary)."""
    return {s.get("stage", "?"): s["backends"] for s in summaries if "backends" in s}


def accelerator() -> dict[str, Any]:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return {"torch": None}
    cuda = torch.cuda.is_available()
    return {"cuda": cuda, "device": torch.cuda.get_device_name(0) if cuda else "cpu"}


def llm_usage_by_step(summaries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each summary's ``llm_usage`` ({step: {model: counts}}), merged into one {step: {model: counts}}."""
    out: dict[str, dict[str, Any]] = {}
    for s in summaries:
        for step, by_model in (s.get("llm_usage") or {}).items():
            out[step] = by_model
    return out


def llm_cumulative_by_step(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The summaries' ``llm_cumulative`` (their usage ledgers' totals) merged: ``{"stages": ..., "total": ...}``."""
    stages: dict[str, Any] = {}
    for s in summaries:
        for step, by_model in (s.get("llm_cumulative") or {}).items():
            stages[step] = by_model
    tot: dict[str, Any] = {}
    for by_model in stages.values():
        for row in by_model.values():
            for k, v in row.items():
                tot[k] = tot.get(k, 0) + v
    if "cost_usd" in tot:
        tot["cost_usd"] = round(float(tot["cost_usd"]), 6)
    return {"stages": dict(sorted(stages.items())), "total": tot}


def failure_warnings(usage_by_step: dict[str, dict[str, Any]]) -> list[str]:
    """One line per step whose last run kept going with failed LLM requests (within its max_failed_share)."""
    lines = []
    for step, by_model in sorted(usage_by_step.items()):
        failed = sum(int(r.get("failed", 0)) for r in by_model.values())
        requests = sum(int(r.get("requests", 0)) for r in by_model.values())
        if failed:
            stage = step.split(":", 1)[0]
            lines.append(
                f"{step}: {failed} of {requests} LLM request(s) failed and are recorded as failed (quarantine / "
                f"status columns); results are partial. To retry only them: `dvc repro -f -s {stage}` then `dvc repro`."
            )
    return lines


def run(inputs, outputs, params, log):
    summaries = [read_json(p) for p in paths(inputs["summaries"])]
    split_summaries = [read_json(p) for p in paths(inputs.get("judge_summaries", []))]
    lock = Path(LOCK_FILE)
    record = {
        "git": git_state(),
        "params_sha256": params_hash(inputs["params"]),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "requirements_lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else None,
        "accelerator": accelerator(),
        "backends": backends_used(summaries),
        "stages": {s.get("stage", "?"): s for s in summaries},
    }
    write_json(outputs["record"], record)
    if "metrics" in outputs:
        everything = summaries + split_summaries
        by_step = llm_usage_by_step(everything)
        usage = write_usage(outputs["metrics"], by_step, cumulative=llm_cumulative_by_step(everything))
        log.info("llm usage of the last runs: %s; cumulative (usage ledgers): %s", usage["total"], usage["cumulative"]["total"])
        for line in failure_warnings(by_step):
            log.warning("WARNING %s", line)
    log.info("provenance: %d stage summaries, commit %s", len(summaries), record["git"]["commit"])
    return {"stages": len(summaries)}
