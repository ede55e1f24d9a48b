"""A small synthetic workspace with every input of the analyses, paper and report stages.

Built from scratch in a temp folder (no pipeline run): three splits of samples
with prompts, feedback and images, the keyword query with a burst of posts on a
known day, relevance scores, generations of two models with their images, the
win-rate JSON of both benchmark splits and a metric table.  Paths are relative
to the workspace, as in the repository.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from PIL import Image

from echo_bench import params as params_mod
from echo_bench.io import write_parquet
from echo_bench.runner import run_stage
from echo_bench.schemas import GENERATIONS, QUERIED, SAMPLES

REPO = Path(__file__).resolve().parents[2]
START = dt.datetime(2025, 3, 20, 12, tzinfo=dt.UTC)
BURST_DAY = 5  # 2025-03-25 gets a burst of posts
MODELS = ("alpha", "beta")

T2I_PROMPTS = [
    'A vintage travel poster of Lisbon with the text "VISIT LISBON" in bold letters',
    "Studio Ghibli style illustration of a fox reading under a tree at sunset",
    "A photorealistic close-up photo of a dew-covered spider web at golden hour",
    "An infographic explaining how a bicycle gear works, step by step, labelled",
    "Create an action figure of a software engineer in blister packaging with accessories",
    "Two cats and three dogs having a picnic on top of a hill, watercolor",
    "Make a logo for a coffee brand called Bean There, minimal, flat",
    "Cinematic shot of a lighthouse in a storm, 35mm, dramatic lighting",
]
I2I_PROMPTS = [
    "Turn this photo into a Pixar-style 3D character, keep the face the same",
    "Remove the background and replace it with a beach at sunset",
    "Combine the first image and the second image into one poster",
    "Make it look like a pencil sketch",
]
FEEDBACK = [
    "the text is misspelled again, so close",
    "why is everything so yellow? piss filter",
    "it doesn't look like you at all",
    "wow this is incredible",
    "perfect, no typos!",
    "the aspect ratio changed and it looks squished",
    "thanks for sharing",
]


@contextlib.contextmanager
def inside(path: Path) -> Iterator[Path]:
    """Run with ``path`` as the working directory (stages read and write repo-relative paths)."""
    old = Path.cwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)


def _image(path: Path, seed: int, size: tuple[int, int] = (96, 72)) -> str:
    rng = np.random.default_rng(seed)
    arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    arr[..., :] = rng.integers(30, 220, size=3)
    arr[size[1] // 4 : size[1] // 2, size[0] // 4 : size[0] // 2] = rng.integers(0, 255, size=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path.as_posix()


def build_workspace(root: Path) -> dict[str, str]:
    """Write the synthetic inputs under ``root``; return their repo-relative paths by name."""
    rows: list[dict[str, Any]] = []
    k = 0
    for split, prompts in (("text_to_image", T2I_PROMPTS), ("image_to_image", I2I_PROMPTS),
                           ("analysis", ["What do you think of the new image model?", "It keeps making things yellow"])):
        for i, prompt in enumerate(prompts):
            k += 1
            sid = f"{split[:3]}{i:03d}"
            inputs = []
            if split == "image_to_image":
                inputs = [_image(root / "data/media" / f"in_{sid}.png", k).removeprefix(root.as_posix() + "/")]
            ref = _image(root / "data/media" / f"ref_{sid}.png", 1000 + k).removeprefix(root.as_posix() + "/")
            fb = [{"post_id": str(9000 + 10 * k + j), "text": FEEDBACK[(k + j) % len(FEEDBACK)]} for j in range(2)]
            rows.append({
                "sample_id": sid, "split": split, "thread_id": str(1000 + k),
                "created_at": START + dt.timedelta(days=k % 12, hours=k), "lang": "en", "prompt": prompt,
                "prompt_modified": False, "task_type": ("edit" if i != 2 else "multi_image") if split == "image_to_image"
                else ("text_to_image" if split == "text_to_image" else None),
                "input_images": inputs, "reference_outputs": [ref], "quality": "Benchmark" if split != "analysis" else "Analysis",
                "label": "Benchmark" if split != "analysis" else "Manual Review", "feedback": fb, "producer": "synthetic",
            })
    samples = pl.DataFrame(rows, schema=SAMPLES)
    paths = {}
    for split in ("analysis", "text_to_image", "image_to_image"):
        p = f"data/splits/{split}.parquet"
        write_parquet(samples.filter(pl.col("split") == split), root / p, SAMPLES)
        paths[split] = p
    # the keyword query: 4 posts a day, 40 on the burst day; every third post scores 2 (not relevant)
    q, rel = [], []
    n = 0
    for day in range(20):
        for j in range(40 if day == BURST_DAY else 4):
            n += 1
            pid = str(100000 + n)
            q.append({"post_id": pid, "conversation_id": pid, "created_at": START + dt.timedelta(days=day, minutes=j),
                      "text": "made with 4o image gen", "lang": "en", "media_keys": [], "matched_keywords": ["4o"]})
            rel.append({"post_id": pid, "thread_id": pid, "score": 2 if n % 3 == 0 else 4, "reason": "synthetic",
                        "producer": "synthetic", "status": "ok"})
    queried = pl.DataFrame(q).with_columns([pl.lit(None, dtype=t).alias(c) for c, t in QUERIED.items() if c not in q[0]])
    write_parquet(queried.select(list(QUERIED)), root / "data/interim/queried.parquet", QUERIED)
    paths["queried"] = "data/interim/queried.parquet"
    (root / "data/curated").mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rel, schema={"post_id": pl.Utf8, "thread_id": pl.Utf8, "score": pl.Int32, "reason": pl.Utf8,
                              "producer": pl.Utf8, "status": pl.Utf8}).write_parquet(root / "data/curated/relevance.parquet")
    paths["relevance"] = "data/curated/relevance.parquet"
    # generations: both models answer every benchmark sample, beta fails one
    gens = []
    for r in rows:
        if r["split"] == "analysis":
            continue
        for m_i, model in enumerate(MODELS):
            fail = model == "beta" and r["sample_id"].endswith("001")
            out = None if fail else _image(root / "data/generated" / r["split"] / model / f"{r['sample_id']}.png",
                                           5000 + 7 * m_i + sum(map(ord, r["sample_id"]))).removeprefix(root.as_posix() + "/")
            gens.append({"split": r["split"], "model": model, "sample_id": r["sample_id"], "status": "failed" if fail else "ok",
                         "reason": "synthetic failure" if fail else None, "output_image": out, "sha256": None,
                         "backend": "synthetic", "seed": 0, "latency_s": 0.0, "cost_usd": 0.0, "settings": "{}"})
    write_parquet(pl.DataFrame(gens, schema=GENERATIONS), root / "data/generated/generations.parquet", GENERATIONS)
    paths["generations"] = "data/generated/generations.parquet"
    # win rates and metrics as the judge and metrics stages write them
    (root / "results/judge").mkdir(parents=True, exist_ok=True)
    wr = []
    for split, (a, b) in (("text_to_image", (0.7, 0.3)), ("image_to_image", (0.6, 0.4))):
        doc = {"split": split, "counts": {"prompts": 8, "models": 2, "judges": 1, "battles": 8}, "offline_only": True,
               "settings": {"judges": {"offline": 1.0}, "bootstrap": {"n": 200, "seed": 1, "level": 0.95}},
               "models": [{"model": "alpha", "win_rate": a, "win_rate_ci_low": a - 0.1, "win_rate_ci_high": a + 0.1,
                           "battles": 8, "bt_elo": 1100.0},
                          {"model": "beta", "win_rate": b, "win_rate_ci_low": b - 0.1, "win_rate_ci_high": b + 0.1,
                           "battles": 8, "bt_elo": 900.0}]}
        p = f"results/judge/winrates_{split}.json"
        (root / p).write_text(json.dumps(doc), encoding="utf-8")
        wr.append(p)
    paths["winrates"] = wr  # type: ignore[assignment]
    mrows = []
    for metric, hib in (("color_shift", False), ("face_identity", True), ("structure_distance", False), ("text_accuracy", True)):
        for split in ("text_to_image", "image_to_image"):
            for j, model in enumerate(MODELS):
                v = 0.3 + 0.2 * j + 0.05 * len(metric) % 3
                mrows.append({"model": model, "split": split, "metric": metric, "value": v, "ci_low": v - 0.05,
                              "ci_high": v + 0.05, "n_ok": 4, "n_applicable": 4, "backend": "synthetic",
                              "higher_is_better": hib})
    (root / "results/metrics").mkdir(parents=True, exist_ok=True)
    pl.DataFrame(mrows).write_csv(root / "results/metrics/table.csv")
    paths["metrics_table"] = "results/metrics/table.csv"
    return paths


ANALYSES_OUTPUTS = {
    "volume": {
        "volume": "results/analyses/volume.csv", "spikes": "results/analyses/spikes.json",
        "metrics": "results/analyses/metrics/volume.json", "plot_volume": "results/plots/volume.csv",
        "volume_pdf": "paper/figures/volume.pdf", "plot_volume_png": "paper/figures/volume.png",
    },
    "feedback": {
        "annotations": "data/analyses/feedback_annotations.parquet", "keywords": "results/analyses/feedback_keywords.csv",
        "categories": "results/analyses/feedback_categories.csv", "examples": "results/analyses/feedback_examples.json",
        "wordcloud": "results/analyses/wordcloud.json", "metrics": "results/analyses/metrics/feedback.json",
        "plot_keywords": "results/plots/feedback_keywords.csv", "wordcloud_pdf": "paper/figures/wordcloud.pdf",
        "plot_wordcloud_png": "paper/figures/wordcloud.png",
    },
    "taxonomy": {
        "taxonomy": "results/analyses/taxonomy.csv", "metrics": "results/analyses/metrics/taxonomy.json",
        "plot_taxonomy": "results/plots/taxonomy.csv", "taxonomy_pdf": "paper/figures/taxonomy.pdf",
        "plot_taxonomy_png": "paper/figures/taxonomy.png",
    },
    "compare": {
        "compare": "results/analyses/compare.csv", "compare_json": "results/analyses/compare.json",
        "embedding": "results/analyses/embedding.csv", "metrics": "results/analyses/metrics/compare.json",
        "embedding_pdf": "paper/figures/embedding.pdf",
        "plot_embedding_png": "paper/figures/embedding.png",
    },
}
PART_PARAMS = {
    "volume": ["analyses.volume", "analyses.events", "analyses.benchmark_splits", "relevance.threshold"],
    "feedback": ["analyses.feedback", "llm.prices"],
    "taxonomy": ["analyses.taxonomy"],
    "compare": ["analyses.compare", "analyses.embed"],
}
PAPER_OUTPUTS = {
    "winrates_tex": "paper/tables/winrates.tex", "metrics_tex": "paper/tables/metrics.tex",
    "compare_tex": "paper/tables/compare.tex", "taxonomy_tex": "paper/tables/taxonomy.tex",
    "keywords_tex": "paper/tables/keywords.tex", "spikes_tex": "paper/tables/spikes.tex",
    "splits_tex": "paper/tables/splits.tex", "macros_tex": "paper/tables/macros.tex",
    "metrics_pdf": "paper/figures/metrics.pdf", "plot_metrics_png": "paper/figures/metrics.png",
}


def project_params(**overrides: Any) -> dict[str, Any]:
    """params.yaml of the repository with dotted-key overrides (``{"analyses.compare.top_k": 3}``)."""
    every = params_mod.load(REPO / "params.yaml")
    # fast, weight-free defaults for tests unless a test asks otherwise
    every["analyses"]["embed"]["backend"] = "tfidf"
    every["analyses"]["embed"]["tsne"]["backend"] = "numpy"
    every["analyses"]["embed"]["tsne"]["n_iter"] = 300
    for key, value in overrides.items():
        node = every
        *head, last = key.split(".")
        for part in head:
            node = node[part]
        node[last] = value
    return every


def run_analyses(every: dict[str, Any], paths: dict[str, Any], parts=("volume", "feedback", "taxonomy", "compare")) -> dict:
    """Run the analyses parts (cwd must be the workspace) like their rules do."""
    out = {}
    for part in parts:
        inputs = {k: paths[k] for k in ("analysis", "text_to_image", "image_to_image")}
        if part == "volume":
            inputs |= {"queried": paths["queried"], "relevance": paths["relevance"]}
        outputs = dict(ANALYSES_OUTPUTS[part], summary=f"results/stages/{part}.json")
        out[part] = run_stage("analyses", inputs, outputs, params_mod.select(every, PART_PARAMS[part]))
    return out


def run_paper(every: dict[str, Any], paths: dict[str, Any]) -> dict:
    a = ANALYSES_OUTPUTS
    inputs = {"winrates": paths["winrates"], "metrics_table": paths["metrics_table"], "spikes": a["volume"]["spikes"],
              "keywords": a["feedback"]["keywords"], "wordcloud": a["feedback"]["wordcloud"],
              "compare_json": a["compare"]["compare_json"], "taxonomy": a["taxonomy"]["taxonomy"]}
    return run_stage("paper", inputs, dict(PAPER_OUTPUTS, summary="results/stages/paper.json"),
                     params_mod.select(every, ["paper"]))


def run_report(every: dict[str, Any], paths: dict[str, Any], html: str = "results/report/index.html") -> dict:
    a = ANALYSES_OUTPUTS
    inputs = {"winrates": paths["winrates"], "metrics_table": paths["metrics_table"], "volume": a["volume"]["volume"],
              "spikes": a["volume"]["spikes"], "wordcloud": a["feedback"]["wordcloud"], "examples": a["feedback"]["examples"],
              "embedding": a["compare"]["embedding"], "compare_json": a["compare"]["compare_json"],
              "taxonomy": a["taxonomy"]["taxonomy"], "text_to_image": paths["text_to_image"],
              "image_to_image": paths["image_to_image"], "generations": paths["generations"]}
    if paths.get("controls"):
        inputs["controls"] = paths["controls"]
    return run_stage("report", inputs, {"html": html, "summary": "results/stages/report.json"},
                     params_mod.select(every, ["report"]))
