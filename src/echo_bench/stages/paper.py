"""Stage 9b, paper: the LaTeX tables (and the metrics figure) of paper/main.tex, from stage outputs only.

inputs (each optional; a missing one gives a table that says "no data"):
         winrates (JSON of the win-rate stage, one per split: results/judge/winrates_<split>.json),
         metrics_table (results/metrics/table.csv), spikes (results/analyses/spikes.json),
         keywords (results/analyses/feedback_keywords.csv), wordcloud (results/analyses/wordcloud.json:
         the annotator's producer), compare_json (results/analyses/compare.json),
         taxonomy (results/analyses/taxonomy.csv)
outputs: winrates_tex, metrics_tex, compare_tex, taxonomy_tex, keywords_tex, spikes_tex, splits_tex,
         macros_tex (paper/tables/*.tex); metrics_pdf, plot_metrics_png (paper/figures/metrics.*); summary
params:  paper.top_keywords, paper.metrics (which metrics, in order), paper.digits ({metric: decimals}),
         paper.winrate_digits

``make -C paper`` builds main.pdf from these files when a TeX installation is present.
Domain logic: :mod:`echo_bench.analyses.latex`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.analyses import latex
from echo_bench.analyses import taxonomy as tax
from echo_bench.io import paths, read_json, write_text
from echo_bench.params import StageParams


def _json(inputs: dict[str, Any], name: str, missing: list[str]) -> Any:
    p = inputs.get(name)
    if p and Path(p).exists():
        return read_json(p)
    missing.append(name)
    return None


def _csv(inputs: dict[str, Any], name: str, missing: list[str]) -> list[dict[str, Any]] | None:
    p = inputs.get(name)
    if p and Path(p).exists():
        return pl.read_csv(p, infer_schema_length=None).to_dicts()
    missing.append(name)
    return None


def split_of(path: str, doc: Any) -> str:
    if isinstance(doc, dict) and doc.get("split"):
        return str(doc["split"])
    stem = Path(path).stem
    return stem.removeprefix("winrates_")


def metrics_figure(rows: list[dict[str, Any]], metrics: list[str], pdf: str | None, png: str | None) -> None:
    """One panel per metric: a bar per model and split, with the bootstrap interval."""
    import numpy as np

    from echo_bench.analyses import plots

    panels = [m for m in metrics if any(r["metric"] == m and (r.get("n_ok") or 0) > 0 for r in rows)] or metrics[:1]
    with plots.style():
        fig, axes = plots.plt.subplots(1, max(len(panels), 1), figsize=(2.6 * max(len(panels), 1), 3.0), squeeze=False)
        for ax, m in zip(axes[0], panels, strict=False):
            sub = [r for r in rows if r["metric"] == m and r.get("value") is not None]
            models = sorted({r["model"] for r in sub})
            splits = [s for s in ("image_to_image", "text_to_image") if any(r["split"] == s for r in sub)]
            h = 0.8 / max(len(splits), 1)
            y = np.arange(len(models))
            for i, s in enumerate(splits):
                vals, lo, hi = [], [], []
                for mod in models:
                    r = next((r for r in sub if r["model"] == mod and r["split"] == s), None)
                    v = r["value"] if r else float("nan")
                    vals.append(v)
                    lo.append(v - r["ci_low"] if r and r.get("ci_low") is not None else 0.0)
                    hi.append(r["ci_high"] - v if r and r.get("ci_high") is not None else 0.0)
                ax.barh(y + i * h - 0.4 + h / 2, vals, height=h, color=plots.PALETTE[i], label=s,
                        xerr=np.vstack([np.maximum(lo, 0), np.maximum(hi, 0)]), error_kw={"linewidth": 0.8, "capsize": 2})
            ax.set_yticks(y, models, fontsize=7)
            ax.invert_yaxis()
            label, higher = latex.METRIC_LABEL.get(m, (m, True))
            ax.set_title(f"{label.replace('$', '').replace(chr(92), '')}\n({'higher' if higher else 'lower'} is better)",
                         fontsize=8)
            if not sub:
                ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center")
        handles, labels = axes[0][0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=7, frameon=False)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        plots.save(fig, pdf, png)


def run(inputs: dict[str, Any], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    missing: list[str] = []
    top_kw = int(params["paper.top_keywords"])
    metric_names = list(params["paper.metrics"])
    digits = {str(k): int(v) for k, v in (params["paper.digits"] or {}).items()}
    wr_digits = int(params["paper.winrate_digits"])

    winrates: dict[str, Any] = {}
    for p in paths(inputs.get("winrates")):
        if Path(p).exists():
            doc = read_json(p)
            winrates[split_of(p, doc)] = doc
        else:
            missing.append(p)
    metric_rows = _csv(inputs, "metrics_table", missing) or []
    spikes = _json(inputs, "spikes", missing)
    keywords = _csv(inputs, "keywords", missing) or []
    cloud = _json(inputs, "wordcloud", missing) or {}
    compare = _json(inputs, "compare_json", missing) or {}
    taxonomy = _csv(inputs, "taxonomy", missing) or []
    if missing:
        log.warning("paper: inputs missing, their tables say 'no data': %s", missing)

    tables = {
        "winrates_tex": latex.winrates_table(winrates, digits=wr_digits),
        "metrics_tex": latex.metrics_table(metric_rows, metric_names, digits),
        "compare_tex": latex.compare_table(compare.get("stats", []), int(compare.get("top_k", 0))),
        "taxonomy_tex": latex.taxonomy_table(taxonomy, [s for s in ("analysis", "text_to_image", "image_to_image")],
                                             tax.PRODUCER),
        "keywords_tex": latex.keywords_table(keywords, top_kw, cloud.get("producer", [])),
        "spikes_tex": latex.spikes_table(spikes or {}),
        "splits_tex": latex.splits_table(taxonomy, spikes),
    }
    macros: dict[str, Any] = {}
    if spikes:
        macros["echoQueriedPosts"] = spikes["totals"].get("queried")
        macros["echoRelevantPosts"] = spikes["totals"].get("relevant")
        macros["echoSpikes"] = len(spikes.get("spikes", []))
        macros["echoSpikeThreshold"] = spikes["method"]["threshold"]
    for r in taxonomy:
        if r["category"] == "other":
            macros[latex.macro_name("echo", "n", r["split"])] = r["n_prompts"]
    for s, doc in winrates.items():
        top = next((m for m in doc.get("models", []) if m.get("win_rate") is not None), None)
        if top:
            macros[latex.macro_name("echo", "top", "model", s)] = top["model"]
            macros[latex.macro_name("echo", "top", "win", "rate", s)] = top["win_rate"]
    fail = [k for k in keywords if k["polarity"] == "failure"]
    if fail:
        macros["echoTopFailureKeyword"] = fail[0]["keyword"]
    for st in compare.get("stats", []):
        macros[latex.macro_name("echo", st["dataset"], "topk", "share")] = st.get("first_bigram_topk_share")
        macros[latex.macro_name("echo", st["dataset"], "words")] = st.get("words_mean")
    if compare:
        macros["echoTopK"] = compare.get("top_k")
    tables["macros_tex"] = latex.macros(macros)
    # per task category win rates (issue 14): results/judge/categories_<split>.json
    categories = {Path(p).stem.removeprefix("categories_"): read_json(p) for p in paths(inputs.get("categories"))
                  if Path(p).exists()}
    if outputs.get("category_winrates_tex"):
        tables["category_winrates_tex"] = latex.category_winrates_table(categories, digits=wr_digits)

    written = []
    for key, text in tables.items():
        if outputs.get(key):
            write_text(outputs[key], text)
            written.append(Path(outputs[key]).name)
    if outputs.get("metrics_pdf") or outputs.get("plot_metrics_png"):
        metrics_figure(metric_rows, metric_names, outputs.get("metrics_pdf"), outputs.get("plot_metrics_png"))
    log.info("paper: wrote %s", written)
    return {"tables": written, "inputs_missing": missing, "splits_with_winrates": sorted(winrates),
            "macros": len(macros)}
