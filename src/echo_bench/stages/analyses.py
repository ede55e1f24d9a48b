"""Stage 9, analyses: post volume, community feedback, task taxonomy, dataset comparison.

One module, four parts; a part runs when the rule asks for its main output, so the
parts can be one rule or four (they are four rules, so the slow embedding map does
not hold up the rest):

* volume -- inputs: queried (QUERIED), relevance (RELEVANCE_SCORES), and the splits
  (analysis, text_to_image, image_to_image; SAMPLES) for the ``samples`` series;
  outputs: ``volume`` (CSV per day), ``spikes`` (JSON: spikes, events, method),
  ``plot_volume`` (CSV for dvc plots), ``volume_pdf``, ``plot_volume_png``;
  params: analyses.volume, analyses.events, analyses.benchmark_splits, relevance.threshold.
* feedback -- inputs: the splits; outputs: ``annotations`` (FEEDBACK_ANNOTATIONS Parquet),
  ``keywords`` (CSV), ``categories`` (CSV), ``examples`` (JSON: per failure keyword, items
  linking to their samples), ``wordcloud`` (JSON layout), ``plot_keywords`` (CSV),
  ``wordcloud_pdf``, ``plot_wordcloud_png``; ``cache`` (LLM response cache, when the rule
  names one); params: analyses.feedback (llm, top_keywords, examples_per_keyword,
  wordcloud), llm.prices (optional).
* taxonomy -- inputs: the splits; outputs: ``taxonomy`` (CSV), ``plot_taxonomy`` (CSV),
  ``taxonomy_pdf``, ``plot_taxonomy_png``; params: analyses.taxonomy.splits.
* compare -- inputs: the splits; outputs: ``compare`` (CSV, one row per dataset),
  ``compare_json`` (everything, with each prompt set's source and status),
  ``embedding`` (CSV: dataset, group, x, y, category, prompt), ``plot_embedding`` (CSV),
  ``embedding_pdf``, ``plot_embedding_png``; params: analyses.compare, analyses.embed.

Every part adds its headline numbers to ``metrics`` (one flat JSON for DVC).  A
missing or unreadable input is logged and counted in the summary; the part goes
on with what it has.  Domain logic: :mod:`echo_bench.analyses`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.analyses import compare as cmp
from echo_bench.analyses import embed as emb
from echo_bench.analyses import feedback as fb
from echo_bench.analyses import taxonomy as tax
from echo_bench.analyses import tsne as tsne_mod
from echo_bench.analyses import volume as vol
from echo_bench.analyses import wordcloud as wc
from echo_bench.io import atomic_path, read_parquet, write_json, write_parquet
from echo_bench.llm import DEFAULT_MAX_FAILED_SHARE
from echo_bench.params import StageParams
from echo_bench.schemas import QUERIED, SAMPLES

SPLIT_INPUTS = ("analysis", "text_to_image", "image_to_image")
RELEVANCE_COLUMNS = {"post_id": pl.Utf8, "thread_id": pl.Utf8, "score": pl.Int32, "status": pl.Utf8}
DEFAULT_CACHE = "data/cache/llm/analyses"


def write_csv(df: pl.DataFrame, path: str) -> None:
    with atomic_path(path) as tmp:
        df.write_csv(tmp, float_precision=6)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "x"


class Inputs:
    """Reads the stage's inputs once, tolerating absent or unreadable files."""

    def __init__(self, inputs: dict[str, Any], log: logging.Logger) -> None:
        self.paths = inputs
        self.log = log
        self.problems: dict[str, str] = {}
        self._samples: pl.DataFrame | None = None

    def _path(self, name: str) -> str | None:
        p = self.paths.get(name)
        if not p:
            self.problems[name] = "not declared"
            return None
        if not Path(p).exists():
            self.problems[name] = f"missing: {p}"
            self.log.warning("analyses: input %s is missing (%s); going on without it", name, p)
            return None
        return str(p)

    def table(self, name: str, schema: pl.Schema | None = None, columns: dict[str, Any] | None = None) -> pl.DataFrame | None:
        p = self._path(name)
        if p is None:
            return None
        try:
            if schema is not None:
                return read_parquet(p, schema)
            df = pl.read_parquet(p)
            return df.select([pl.col(c).cast(t) for c, t in (columns or {}).items()]) if columns else df
        except Exception as e:  # noqa: BLE001 - an unreadable input is reported, the part goes on
            self.problems[name] = f"unreadable: {type(e).__name__}: {e}"[:300]
            self.log.warning("analyses: input %s is unreadable (%s); going on without it", name, e)
            return None

    def samples(self) -> pl.DataFrame:
        if self._samples is None:
            frames = [df for s in SPLIT_INPUTS if s in self.paths and (df := self.table(s, SAMPLES)) is not None]
            self._samples = pl.concat(frames) if frames else pl.DataFrame(schema=SAMPLES)
            self.log.info("analyses: %d samples over splits %s", self._samples.height,
                          dict(self._samples.group_by("split").len().sort("split").iter_rows()))
        return self._samples


# --- volume ---------------------------------------------------------------------------------------------------------


def spike_settings(params: StageParams) -> vol.SpikeSettings:
    v = params["analyses.volume"]
    return vol.SpikeSettings(
        series=str(v["series"]),
        window=int(v["window"]),
        threshold=float(v["threshold"]),
        min_count=int(v["min_count"]),
        min_scale=float(v["min_scale"]),
        tolerance_days=int(v["tolerance_days"]),
        poisson_floor=bool(v["poisson_floor"]),
    )


def run_volume(ins: Inputs, outputs: dict[str, str], params: StageParams, log: logging.Logger) -> tuple[dict, dict]:
    settings = spike_settings(params)
    threshold = float(params["relevance.threshold"])
    queried = ins.table("queried", QUERIED)
    relevance = ins.table("relevance", columns=RELEVANCE_COLUMNS)
    samples = ins.samples()
    v = params["analyses.volume"]
    volume = vol.daily_counts(queried, relevance, samples, threshold=threshold,
                              benchmark_splits=list(params["analyses.benchmark_splits"]),
                              start=v.get("start"), end=v.get("end"))
    table, spikes = vol.detect_spikes(volume, settings)
    events, spikes = vol.match_events(spikes, list(params["analyses.events"] or []), settings.tolerance_days)
    log.info("volume: %d days; %s posts: %d; %d spikes (z >= %g); events matched %d/%d", table.height, settings.series,
             int(table[settings.series].sum()) if table.height else 0, len(spikes), settings.threshold,
             sum(e["spike_peak"] is not None for e in events), len(events))
    for s in spikes:
        log.info("volume: spike %s..%s peak %s (%d posts, z %.1f) events %s", s["start"], s["end"], s["peak"],
                 s["peak_count"], s["peak_z"], s["events"])
    write_csv(table.with_columns(pl.col("date").cast(pl.Utf8)), outputs["volume"])
    doc = {
        "series": settings.series,
        "method": {
            "name": "robust z-score (rolling median, MAD with Poisson floor)" if settings.poisson_floor else "robust z-score (rolling median, MAD)",
            "window_days": settings.window,
            "threshold": settings.threshold,
            "min_count": settings.min_count,
            "min_scale": settings.min_scale,
            "poisson_floor": settings.poisson_floor,
            "tolerance_days": settings.tolerance_days,
            "relevance_threshold": threshold,
        },
        "totals": {s: int(table[s].sum()) if table.height else 0 for s in vol.SERIES},
        "days": table.height,
        "first_day": table["date"].min().isoformat() if table.height else None,
        "last_day": table["date"].max().isoformat() if table.height else None,
        "spikes": spikes,
        "events": events,
    }
    write_json(outputs["spikes"], doc)
    if outputs.get("plot_volume"):
        write_csv(table.select(pl.col("date").cast(pl.Utf8), pl.col(settings.series).alias("posts")), outputs["plot_volume"])
    if outputs.get("volume_pdf") or outputs.get("plot_volume_png"):
        vol.figure(table, spikes, events, settings, outputs.get("volume_pdf"), outputs.get("plot_volume_png"))
    peak = max(spikes, key=lambda s: (s["peak_count"], s["peak"])) if spikes else None
    metrics = {
        "volume_days": table.height,
        **{f"volume_{s}_posts": doc["totals"][s] for s in vol.SERIES},
        "volume_spikes": len(spikes),
        "volume_events": len(events),
        "volume_events_matched": sum(e["spike_peak"] is not None for e in events),
        "volume_peak_posts": peak["peak_count"] if peak else 0,
        "volume_peak_z": peak["peak_z"] if peak else None,
    }
    summary = {"days": table.height, "totals": doc["totals"], "spikes": len(spikes),
               "events_matched": metrics["volume_events_matched"], "events": len(events)}
    return summary, metrics


# --- feedback -------------------------------------------------------------------------------------------------------


def run_feedback(ins: Inputs, outputs: dict[str, str], params: StageParams, log: logging.Logger) -> tuple[dict, dict]:
    f = params["analyses.feedback"]
    samples = ins.samples()
    items = fb.feedback_items(samples)
    llm_cfg = dict(f["llm"])
    client = None
    if llm_cfg.get("backend", "offline") != "offline":
        from echo_bench.llm import make_client

        cache = outputs.get("cache") or DEFAULT_CACHE
        Path(cache).mkdir(parents=True, exist_ok=True)
        client = make_client(llm_cfg, cache_dir=cache, offline=fb.offline_reply, prices=params.get("llm.prices"), log=log,
                             stage="feedback", max_failed_share=f.get("max_failed_share", DEFAULT_MAX_FAILED_SHARE))
    ann = fb.annotate_items(items, client)
    failed = ann.filter(pl.col("status") == "failed").height
    pol = dict(ann.filter(pl.col("status") == "ok").group_by("polarity").len().iter_rows()) if ann.height else {}
    log.info("feedback: %d items of %d samples; %s; %d failed", ann.height, ann["sample_id"].n_unique() if ann.height else 0,
             pol, failed)
    write_parquet(ann, outputs["annotations"], fb.FEEDBACK_ANNOTATIONS, name="annotations")
    kw = fb.keyword_frequencies(ann)
    cats = fb.category_frequencies(ann)
    write_csv(kw, outputs["keywords"])
    if outputs.get("categories"):
        write_csv(cats, outputs["categories"])
    fail = kw.filter(pl.col("polarity") == "failure")
    top = fail.head(int(f["top_keywords"]))
    if outputs.get("examples"):
        ex = fb.examples(ann, samples, top["keyword"].to_list(), per_keyword=int(f["examples_per_keyword"]))
        write_json(outputs["examples"], {"polarity": "failure", "keywords": [
            {"keyword": k, "category": c, "count": n, "examples": ex.get(k, [])}
            for k, c, n in top.select("keyword", "category", "count").iter_rows()]})
    cs = f["wordcloud"]
    settings = wc.CloudSettings(width=int(cs["width"]), height=int(cs["height"]), max_words=int(cs["max_words"]),
                                min_size=float(cs["min_size"]), max_size=float(cs["max_size"]), seed=int(cs["seed"]))
    cloud = wc.layout(list(fail.select("keyword", "count").iter_rows()), settings,
                      groups=dict(fail.select("keyword", "category").iter_rows()))
    producers = sorted(set(ann["producer"].to_list())) if ann.height else []
    cloud["producer"] = producers
    if outputs.get("wordcloud"):
        write_json(outputs["wordcloud"], cloud)
    if outputs.get("plot_keywords"):
        write_csv(top.select("keyword", "category", "count"), outputs["plot_keywords"])
    if outputs.get("wordcloud_pdf") or outputs.get("plot_wordcloud_png"):
        label = "offline lexicon" if producers == [fb.OFFLINE_PRODUCER] else ", ".join(producers) or "none"
        wc.figure(cloud, outputs.get("wordcloud_pdf"), outputs.get("plot_wordcloud_png"),
                  title=f"failure keywords of community feedback ({fail['count'].sum() if fail.height else 0} mentions; {label})")
    n_posts = sum(pol.values())
    metrics: dict[str, Any] = {
        "feedback_items": ann.height,
        "feedback_failed": failed,
        **{f"feedback_{p}_share": round(pol.get(p, 0) / n_posts, 6) if n_posts else None for p in fb.POLARITIES},
        "feedback_failure_keywords": fail.height,
    }
    n_fail_posts = fb._distinct_posts(ann).filter(pl.col("polarity") == "failure").height if ann.height else 0
    for cat, n in cats.filter(pl.col("polarity") == "failure").select("category", "count").iter_rows():
        metrics[f"feedback_failure_{cat}_share"] = round(n / n_fail_posts, 6) if n_fail_posts else None
    summary = {"items": ann.height, "polarity": dict(sorted(pol.items())), "failed": failed, "producers": producers,
               "failure_keywords": fail.height, "wordcloud_words": len(cloud["words"]),
               "wordcloud_dropped": cloud["dropped"]}
    return summary, metrics


# --- taxonomy -------------------------------------------------------------------------------------------------------


def run_taxonomy(ins: Inputs, outputs: dict[str, str], params: StageParams, log: logging.Logger) -> tuple[dict, dict]:
    splits = list(params["analyses.taxonomy.splits"])
    table = tax.taxonomy_table(ins.samples(), splits)
    write_csv(table, outputs["taxonomy"])
    if outputs.get("plot_taxonomy"):
        write_csv(table.filter(pl.col("split") == "all").select("category", "count"), outputs["plot_taxonomy"])
    if outputs.get("taxonomy_pdf") or outputs.get("plot_taxonomy_png"):
        taxonomy_figure(table, splits, outputs.get("taxonomy_pdf"), outputs.get("plot_taxonomy_png"))
    allrows = table.filter(pl.col("split") == "all")
    n = int(allrows["n_prompts"][0]) if allrows.height else 0
    log.info("taxonomy: %d prompts over %s; primary %s", n, splits,
             dict(allrows.select("category", "primary").iter_rows()))
    metrics = {"taxonomy_prompts": n, **{f"taxonomy_{c}_share": s for c, s in allrows.select("category", "share").iter_rows()}}
    return {"prompts": n, "producer": tax.PRODUCER}, metrics


def taxonomy_figure(table: pl.DataFrame, splits: list[str], pdf: str | None, png: str | None) -> None:
    import numpy as np

    from echo_bench.analyses import plots

    cats = [c for c in tax.CATEGORIES]
    with plots.style():
        fig, ax = plots.plt.subplots(figsize=(6.5, 3.6))
        y = np.arange(len(cats))
        shown = [s for s in splits if table.filter((pl.col("split") == s) & (pl.col("n_prompts") > 0)).height]
        h = 0.8 / max(len(shown), 1)
        for i, s in enumerate(shown):
            t = table.filter(pl.col("split") == s)
            share = dict(t.select("category", "share").iter_rows())
            n = int(t["n_prompts"][0])
            ax.barh(y + i * h - 0.4 + h / 2, [share.get(c) or 0.0 for c in cats], height=h,
                    color=plots.PALETTE[i % len(plots.PALETTE)], label=f"{s} (n={n})")
        ax.set_yticks(y, [c.replace("_", " ") for c in cats])
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of prompts with the label (several labels per prompt)")
        ax.set_title(f"task taxonomy of the prompts ({tax.PRODUCER})", fontsize=8)
        if shown:
            ax.legend(fontsize=7, frameon=False, loc="lower right")
        else:
            ax.text(0.5, 0.5, "no prompts", transform=ax.transAxes, ha="center")
        fig.tight_layout()
        plots.save(fig, pdf, png)


# --- compare --------------------------------------------------------------------------------------------------------


def echo_sets(samples: pl.DataFrame, name: str, splits: list[str]) -> list[cmp.PromptSet]:
    """The ECHO prompt set over ``splits`` (deduplicated), then one set per split."""
    s = samples.filter(pl.col("split").is_in(splits) & pl.col("prompt").is_not_null()).sort("split", "sample_id")

    def build(label: str, df: pl.DataFrame, group: str) -> cmp.PromptSet:
        seen: dict[str, str | None] = {}
        for p, t in df.select("prompt", "task_type").iter_rows():
            p = re.sub(r"\s+", " ", p).strip()
            if p and p not in seen:
                seen[p] = t
        return cmp.PromptSet(label, list(seen), list(seen.values()),
                             {"name": label, "status": "ok" if seen else "absent", "n": len(seen), "group": group,
                              "source": f"splits {group}", "reason": None if seen else "no prompts in the splits"})

    out = [build(name, s, "+".join(splits))]
    if len(splits) > 1:
        out += [build(f"{name} ({sp})", s.filter(pl.col("split") == sp), sp) for sp in splits]
    return out


def run_compare(ins: Inputs, outputs: dict[str, str], params: StageParams, log: logging.Logger) -> tuple[dict, dict]:
    c = params["analyses.compare"]
    e = params["analyses.embed"]
    name = str(c["echo_name"])
    splits = list(c["echo_splits"])
    sets = echo_sets(ins.samples(), name, splits)
    prior = []
    for spec in c["prior_sets"] or []:
        ps = cmp.load_prompt_set(spec, fetch=c.get("fetch"))
        if ps.info["status"] != "ok":
            log.warning("compare: prompt set %s is %s (%s); left out", ps.name, ps.info["status"], ps.info.get("reason"))
        else:
            log.info("compare: prompt set %s: %d prompts from %s", ps.name, len(ps.prompts), ps.info.get("source"))
        prior.append(ps)
    everything = sets + prior
    usable = [p for p in everything if p.prompts]
    stats = [cmp.prompt_stats(p, top_k=int(c["top_k"]), distinct_sample=int(c["distinct_sample"]), seed=int(c["seed"]))
             for p in usable]
    flat_cols = [k for k in (stats[0] if stats else {}) if k != "top_first_bigrams"]
    table = pl.DataFrame([{k: s[k] for k in flat_cols} for s in stats], infer_schema_length=None) if stats else pl.DataFrame(
        {"dataset": []}, schema={"dataset": pl.Utf8})
    write_csv(table, outputs["compare"])
    # the map: ECHO (combined set, points labelled by split) and every prior set, each subsampled
    map_sets = [sets[0]] + [p for p in prior if p.prompts]
    emb_info: dict[str, Any] = {}
    tsne_info: dict[str, Any] = {}
    points: list[dict[str, Any]] = []
    if outputs.get("embedding"):
        split_of = {}
        for ps in sets[1:]:
            for p in ps.prompts:
                split_of.setdefault(p, ps.info["group"])
        texts: list[str] = []
        for ps in map_sets:
            for i in cmp.subsample(ps, int(e["max_per_set"]), int(e["seed"])):
                p = ps.prompts[i]
                labels, primary = tax.classify(p, ps.task_types[i])
                points.append({"dataset": ps.name, "group": split_of.get(p, ps.name) if ps is sets[0] else ps.name,
                               "category": primary, "prompt": p})
                texts.append(p)
        if texts:
            vecs, emb_info = emb.embed(texts, e, seed=int(e["seed"]))
            t = e["tsne"]
            xy, tsne_info = tsne_mod.tsne(vecs, backend=str(t["backend"]), perplexity=float(t["perplexity"]),
                                          n_iter=int(t["n_iter"]), seed=int(e["seed"]))
            for pnt, (x, y) in zip(points, xy.tolist(), strict=True):
                pnt["x"], pnt["y"] = x, y
        log.info("compare: map of %d prompts; embeddings %s; t-SNE %s", len(points), emb_info.get("label"), tsne_info)
        maxc = int(e.get("prompt_chars", 200))
        emap = pl.DataFrame(
            [{"dataset": p["dataset"], "group": p["group"], "x": p["x"], "y": p["y"], "category": p["category"],
              "prompt": p["prompt"] if len(p["prompt"]) <= maxc else p["prompt"][: maxc - 1] + "\u2026"} for p in points],
            schema={"dataset": pl.Utf8, "group": pl.Utf8, "x": pl.Float64, "y": pl.Float64, "category": pl.Utf8,
                    "prompt": pl.Utf8},
        )
        write_csv(emap, outputs["embedding"])
        if outputs.get("plot_embedding"):
            write_csv(emap.select("x", "y", "group"), outputs["plot_embedding"])
        if outputs.get("embedding_pdf") or outputs.get("plot_embedding_png"):
            embedding_figure(emap, emb_info, tsne_info, outputs.get("embedding_pdf"), outputs.get("plot_embedding_png"))
    doc = {
        "echo": {"name": name, "splits": splits},
        "sets": [p.info for p in everything],
        "stats": stats,
        "top_k": int(c["top_k"]),
        "embedding": emb_info,
        "tsne": tsne_info,
        "points": len(points),
    }
    if outputs.get("compare_json"):
        write_json(outputs["compare_json"], doc)
    metrics: dict[str, Any] = {}
    for s in stats:
        key = slug(s["dataset"])
        for m in ("n_prompts", "words_mean", "first_bigram_top1_share", "first_bigram_topk_share", "first_bigram_entropy",
                  "distinct_2"):
            metrics[f"compare_{key}_{m}"] = s[m]
    summary = {"sets": {p.name: {k: p.info.get(k) for k in ("status", "n", "reason")} for p in everything},
               "map_points": len(points), "embedding": emb_info.get("model"), "tsne": tsne_info.get("backend")}
    return summary, metrics


def embedding_figure(emap: pl.DataFrame, emb_info: dict, tsne_info: dict, pdf: str | None, png: str | None) -> None:
    from echo_bench.analyses import plots

    with plots.style():
        fig, ax = plots.plt.subplots(figsize=(6.0, 5.0))
        groups = list(dict.fromkeys(emap["group"].to_list()))
        for i, g in enumerate(groups):
            d = emap.filter(pl.col("group") == g)
            ax.scatter(d["x"].to_numpy(), d["y"].to_numpy(), s=5, alpha=0.6, linewidths=0,
                       color=plots.PALETTE[i % len(plots.PALETTE)], label=f"{g} ({d.height})", rasterized=False)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[["left", "bottom"]].set_visible(False)
        if groups:
            ax.legend(fontsize=7, markerscale=3, frameon=False, loc="best")
        else:
            ax.text(0.5, 0.5, "no prompts", transform=ax.transAxes, ha="center")
        ax.set_title(f"t-SNE of prompt embeddings ({emb_info.get('label', 'none')};\n"
                     f"{tsne_info.get('backend', '-')} t-SNE, perplexity {tsne_info.get('perplexity', '-')}, seed "
                     f"{tsne_info.get('seed', '-')})", fontsize=7)
        fig.tight_layout()
        plots.save(fig, pdf, png)


# --- the stage ------------------------------------------------------------------------------------------------------

PARTS = (("volume", "volume", run_volume), ("feedback", "annotations", run_feedback),
         ("taxonomy", "taxonomy", run_taxonomy), ("compare", "compare", run_compare))


def run(inputs: dict[str, Any], outputs: dict[str, str], params: StageParams, log: logging.Logger) -> dict[str, Any]:
    ins = Inputs(inputs, log)
    summary: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    ran = []
    for part, key, fn in PARTS:
        if key in outputs:
            s, m = fn(ins, outputs, params, log)
            summary[part] = s
            metrics.update(m)
            ran.append(part)
    if not ran:
        raise ValueError(f"analyses: the rule asks for none of the parts' outputs {[k for _, k, _ in PARTS]}")
    if outputs.get("metrics"):
        write_json(outputs["metrics"], dict(sorted(metrics.items())))
    return {"parts": ran, **summary, "inputs_missing": dict(sorted(ins.problems.items()))}
