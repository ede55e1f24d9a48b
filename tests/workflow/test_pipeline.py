"""End to end: `dvc repro` on the embedded sample in a fresh copy of the repository.

One workspace (a copy of the working tree as git sees it, in a new git repo)
runs the whole pipeline, then checks what a user relies on:
- a second `dvc repro` finds everything up to date;
- a from-scratch re-run gives byte-identical outputs;
- after `dvc checkout` restores deleted outputs and `make sync` re-stamps them,
  Snakemake has nothing to redo.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
NOT_COMPARED = {"results/provenance.json"}  # records the git commit and machine


def sh(cmd: list[str], cwd: Path, timeout: int = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def make_workspace(repo: Path, dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = repo / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    # outputs the source checkout committed (results/) are rebuilt here
    for rel in ("dvc.lock",):
        (dest / rel).unlink(missing_ok=True)
    sh(["git", "init", "-q"], dest)
    sh(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], dest)
    sh(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "workspace"], dest)
    return dest


def output_hashes(ws: Path) -> dict[str, str]:
    out = {}
    for top in ("data", "results", "paper"):
        for path in sorted((ws / top).rglob("*")):
            rel = path.relative_to(ws).as_posix()
            # .gitignore files are DVC's bookkeeping (written by `dvc repro`, not by `dvc checkout`)
            if path.is_file() and rel not in NOT_COMPARED and "/cache/" not in f"/{rel}" and path.name != ".gitignore":
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def workspace(repo_root: Path, tmp_path_factory) -> Path:
    ws = make_workspace(repo_root, tmp_path_factory.mktemp("ws"))
    sh(["dvc", "repro"], ws)
    return ws


def test_second_repro_is_up_to_date(workspace: Path):
    proc = sh(["dvc", "repro"], workspace)
    assert "Running stage" not in proc.stdout + proc.stderr
    status = sh(["dvc", "status"], workspace)
    assert "up to date" in status.stdout


def test_outputs_exist_with_stage_summaries(workspace: Path):
    for stage in ("ingest", "collect", "threads"):
        assert (workspace / "results" / "stages" / f"{stage}.json").exists()
    assert (workspace / "results" / "provenance.json").exists()


def test_dvc_metrics_show_headline_numbers_and_llm_usage(workspace: Path):
    shown = json.loads(sh(["dvc", "metrics", "show", "--json"], workspace).stdout)
    files = next(iter(shown.values()))["data"]
    usage = files["results/metrics/llm_usage.json"]["data"]
    assert usage["total"]["requests"] > 0  # the offline backends went through the LLM layer
    assert usage["total"]["cost_usd"] == 0  # and cost nothing
    assert {"relevance", "extract"} <= set(usage["stages"])
    assert "results/metrics/winrates.json" in files


CANONICAL = ("identity", "color_cast", "scramble", "typo", "face_swap")  # one per effect; the rest are doses


def test_offline_win_rates_order_the_controls_as_their_effects_imply(workspace: Path):
    table = pl.read_csv(workspace / "results" / "judge" / "winrates_image_to_image.csv").sort("win_rate", descending=True)
    order = table["model"].to_list()
    assert order[0] == "identity"  # exact preservation of the input ranks first
    assert order.index("scramble") > order.index("color_cast")  # structure destroyed
    assert order.index("face_swap") > order.index("color_cast")  # identity replaced
    ci_low = dict(zip(table["model"], table["win_rate_ci_low"]))
    ci_high = dict(zip(table["model"], table["win_rate_ci_high"]))
    assert ci_low["identity"] > max(ci_high[m] for m in ("scramble", "face_swap"))


def test_metrics_single_out_the_control_with_each_known_effect(workspace: Path):
    table = pl.read_csv(workspace / "results" / "metrics" / "table.csv").filter(
        pl.col("split") == "image_to_image", pl.col("model").is_in(CANONICAL))

    def value(metric: str) -> dict[str, float]:
        rows = table.filter(pl.col("metric") == metric, pl.col("value").is_not_null())
        return dict(zip(rows["model"], rows["value"]))

    for metric in ("color_shift", "color_delta_e"):  # the paper's definition and the perceptual one
        got = value(metric)
        assert max(got, key=got.get) == "color_cast", (metric, got)
        assert got["identity"] == 0.0, (metric, got)  # a control with no effect reads exactly zero
    structure = value("structure_distance")
    assert max(structure, key=structure.get) == "scramble", structure
    assert structure["identity"] == 0
    face = value("face_identity")
    assert face["scramble"] == 0.0, face  # the face is lost: a failure, not a missing value
    assert face["face_swap"] < min(face[m] for m in ("identity", "color_cast", "typo")), face
    assert face["identity"] > 0.999


def test_controls_report_passes_every_check_including_the_dose_series(workspace: Path):
    report = pl.read_csv(workspace / "results" / "controls" / "report.csv")
    assert report.filter(pl.col("status") == "fail").height == 0, report.filter(pl.col("status") == "fail")
    monotone = report.filter(pl.col("check") == "monotone")
    assert monotone.height >= 4 and set(monotone["status"]) == {"pass"}, monotone
    metrics = json.loads((workspace / "results" / "controls" / "metrics.json").read_text())
    assert metrics["all_passed"] is True and metrics["fail"] == 0


def test_checkout_restores_without_snakemake_rerun(workspace: Path):
    before = output_hashes(workspace)
    shutil.rmtree(workspace / "data" / "interim")
    sh(["dvc", "checkout"], workspace)
    # what `make sync` runs: give the restored files times in DAG order
    sh(["snakemake", "--profile", "workflow/profiles/default", "--touch", "--quiet", "all", "--", "all"], workspace)
    dry = sh(["snakemake", "--profile", "workflow/profiles/default", "-n", "all"], workspace)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    assert output_hashes(workspace) == before
    assert "up to date" in sh(["dvc", "status"], workspace).stdout


def test_from_scratch_runs_are_byte_identical(workspace: Path):
    first = output_hashes(workspace)
    assert first, "the pipeline produced no outputs"
    for top in ("data",):
        shutil.rmtree(workspace / top)
    sh(["dvc", "repro", "--force"], workspace)
    second = output_hashes(workspace)
    assert sorted(second) == sorted(first)
    differing = [k for k in first if first[k] != second[k]]
    assert not differing, f"outputs differ between two runs: {differing[:10]}"
