"""The analyses, paper and report stages on a synthetic workspace: outputs, determinism, a parameter sweep."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
from analyses_helpers import (ANALYSES_OUTPUTS, PAPER_OUTPUTS, REPO, build_workspace, inside, project_params, run_analyses,
                              run_paper)

from echo_bench.analyses import feedback as fb

PRIOR = REPO.parent / "shared" / "corpora" / "prior-benchmarks"


def files_of(root: Path) -> dict[str, bytes]:
    """Every paper table and figure and every analyses result under ``root``, by relative path."""
    out = {}
    for folder in ("paper", "results/analyses", "results/plots"):
        for p in sorted((root / folder).rglob("*")):
            if p.is_file():
                out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def test_parts_write_every_output_with_the_offline_producer_named(workspace):
    root, paths = workspace
    every = project_params()
    summaries = run_analyses(every, paths)
    for part, outs in ANALYSES_OUTPUTS.items():
        for name, p in outs.items():
            assert (root / p).is_file() and (root / p).stat().st_size > 0, (part, name)
    spikes = json.loads((root / "results/analyses/spikes.json").read_text())
    assert [s["peak"] for s in spikes["spikes"]] == ["2025-03-25"]  # the synthetic burst
    assert spikes["events"][0]["spike_peak"] == "2025-03-25" and spikes["events"][1]["spike_peak"] is None
    vol = pl.read_csv(root / "results/analyses/volume.csv")
    assert vol.filter(pl.col("date") == "2025-03-25")["relevant"].item() < vol.filter(pl.col("date") == "2025-03-25")["queried"].item()
    ann = pl.read_parquet(root / ANALYSES_OUTPUTS["feedback"]["annotations"])
    assert set(ann["producer"]) == {fb.OFFLINE_PRODUCER}
    cloud = json.loads((root / "results/analyses/wordcloud.json").read_text())
    assert cloud["producer"] == [fb.OFFLINE_PRODUCER] and cloud["words"]
    ex = json.loads((root / "results/analyses/feedback_examples.json").read_text())
    samples = {r for s in ("analysis", "text_to_image", "image_to_image")
               for r in pl.read_parquet(root / paths[s])["sample_id"].to_list()}
    assert ex["keywords"] and all(e["sample_id"] in samples for k in ex["keywords"] for e in k["examples"])
    metrics = json.loads((root / "results/analyses/metrics/volume.json").read_text())
    assert metrics["volume_spikes"] == 1 and metrics["volume_events_matched"] == 1
    # the prior sets are absent in this workspace: the stage says so and goes on
    sets = summaries["compare"]["compare"]["sets"]
    assert sets["GenEval"]["status"] == "absent" and sets["ECHO"]["status"] == "ok"


def test_paper_tables_regenerate_from_params_and_follow_one_param(tmp_path):
    """Two runs with the same params give identical bytes; changing analyses.compare.top_k changes the table."""
    prior_sets = [{"name": "GenEval", "path": str(PRIOR / "geneval_evaluation_metadata.jsonl"), "format": "jsonl",
                   "field": "prompt", "task_type": "text_to_image"}] if PRIOR.exists() else []
    results = {}
    for run, top_k in (("a", 3), ("b", 3), ("c", 5)):
        root = tmp_path / run
        root.mkdir()
        paths = build_workspace(root)
        every = project_params(**{"analyses.compare.top_k": top_k, "analyses.compare.prior_sets": prior_sets,
                                  "analyses.embed.max_per_set": 40})
        with inside(root):
            run_analyses(every, paths, parts=("volume", "feedback", "taxonomy", "compare"))
            run_paper(every, paths)
        results[run] = files_of(root)
        shutil.rmtree(root / "data")
    a, b, c = results["a"], results["b"], results["c"]
    assert set(PAPER_OUTPUTS.values()) <= set(a)
    assert a == b, [k for k in a if a[k] != b.get(k)]  # deterministic: same params, same bytes (PDF and PNG included)
    compare_a, compare_c = a["paper/tables/compare.tex"].decode(), c["paper/tables/compare.tex"].decode()
    assert compare_a != compare_c
    assert "Top-3 share" in compare_a and "Top-5 share" in compare_c
    changed = sorted(k for k in a if a[k] != c.get(k))
    assert "paper/tables/macros.tex" in changed and "results/analyses/compare.json" in changed
    # tables that do not read the param do not change
    for unchanged in ("paper/tables/spikes.tex", "paper/tables/keywords.tex", "paper/figures/volume.pdf"):
        assert unchanged not in changed
    if prior_sets:
        assert "GenEval" in compare_a


def test_paper_with_missing_inputs_says_no_data(tmp_path):
    with inside(tmp_path):
        every = project_params()
        from echo_bench import params as params_mod
        from echo_bench.runner import run_stage

        s = run_stage("paper", {"winrates": ["results/judge/winrates_text_to_image.json"]},
                      dict(PAPER_OUTPUTS), params_mod.select(every, ["paper"]))
    assert "spikes" in s["inputs_missing"]
    assert "no data" in (tmp_path / "paper/tables/compare.tex").read_text()
