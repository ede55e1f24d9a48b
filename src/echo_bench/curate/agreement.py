"""Agreement of the offline curation with a corpus' truth file (a baseline, not a target).

:func:`agreement_report` runs ingest -> keyword match -> threads -> relevance ->
extraction -> image step -> finalize, all with the offline backends, on the
``awesome-gpt4o-images`` corpus (Twitter API v2 pages plus ``truth.jsonl``) and
compares, case by case:

* the extracted prompt with the true prompt: rapidfuzz ``fuzz.ratio`` (0-100)
  of the two texts with surrounding whitespace stripped; mean and share >= 90;
* text-to-image vs image-to-image with the case's ``needs_reference_image``:
  the predicted need of an input image is the image step's task type (an input
  image was found) or the prompt's edit/multi-image cues (rule F8's test); the
  final placement (split or curator queue) is tabulated too;
* fill-in-the-blank detection (``find_blanks`` found a placeholder) with the
  case's ``fill_in_blank``.

The corpus is a hand-picked list of prompt posts, most of which never name the
model (the collection removed the captions), so the keyword query and the
relevance threshold are measured and reported but not applied: every case goes
through extraction.

:func:`sample_report` does the same for an embedded sample dump
(``data/raw/sample``: ``truth.jsonl`` with one line per thread), where the
keyword query and the relevance threshold are applied as in the pipeline.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
from rapidfuzz import fuzz

from echo_bench.curate import extract as ex
from echo_bench.curate import finalize as fz
from echo_bench.curate import multimodal as mm
from echo_bench.curate import relevance as rel
from echo_bench.curate.heuristics import DEFAULT_NAMES, find_blanks
from echo_bench.io import write_json, write_parquet, write_text
from echo_bench.quarantine import Quarantine

#: The keyword query of params.yaml at the time of writing (for the report only).
DEFAULT_KEYWORDS = ("chatgpt", "create image", "image gen", "4o", "gpt-4o", "gpt4o", "sora")


def _client(work: Path, step: str, offline: Any, log: logging.Logger) -> Any:
    from echo_bench.llm import make_client

    return make_client({"backend": "offline"}, cache_dir=work / "cache" / step, offline=offline, log=log)


def run_offline(
    posts: pl.DataFrame,
    media: pl.DataFrame,
    work: Path,
    *,
    keywords: tuple[str, ...] = DEFAULT_KEYWORDS,
    threshold: int = 3,
    apply_relevance: bool = True,
    queried: pl.DataFrame | None = None,
    log: logging.Logger | None = None,
) -> dict[str, Any]:
    """The offline curation of ``posts``/``media`` (library defaults of every knob); frames by step."""
    from echo_bench.collect import match_keywords
    from echo_bench.threads import build_threads

    log = log or logging.getLogger("echo_bench.curate.agreement")
    if queried is None:
        queried = match_keywords(posts, list(keywords))
    tr = build_threads(queried)
    names = DEFAULT_NAMES
    rs = rel.RelevanceSettings(threshold=threshold, names=names)
    r = rel.score_threads(queried, tr.threads, _client(work, "relevance", rel.make_offline(names), log), rs, log=log)
    kept = r.kept_threads if apply_relevance else tr.threads
    q = Quarantine(ex.STEP)
    threads = ex.build_threads(kept, tr.thread_posts, queried, media, q)
    offline = ex.make_offline({t.thread_id: t for t in threads}, names)
    e = ex.extract_samples(threads, _client(work, "extract", offline, log), ex.ExtractSettings(names=names), q, log=log)
    m = mm.process_candidates(
        e.candidates, lambda off: _client(work, "multimodal", off, log), mm.MultimodalSettings(),
        crops_dir=str(work / "crops"), log=log,
    )
    f = fz.finalize_samples(m.processed, lambda off: _client(work, "finalize", off, log), fz.FinalizeSettings(), log=log)
    return {"queried": queried, "threads": tr.threads, "scores": r.scores, "kept": kept, "candidates": e.candidates,
            "processed": m.processed, "final": f, "summaries": {"relevance": r.summary, "extract": e.summary,
                                                                "multimodal": m.summary, "finalize": f.summary}}


def placement(final: fz.FinalizeResult) -> dict[str, str]:
    """sample_id -> where it ended: text_to_image | image_to_image | manual_review | discard | analysis | removed."""
    out: dict[str, str] = {}
    for split in ("text_to_image", "image_to_image"):
        for sid in final.splits[split]["sample_id"].to_list():
            out[sid] = split
    for sid, label in final.splits["analysis"].select("sample_id", "label").iter_rows():
        out[sid] = {"Manual Review": "manual_review", "Discard": "discard"}.get(label, "analysis")
    for sid, split in final.discarded.select("sample_id", "split").iter_rows():
        out.setdefault(sid, "removed" if split is None else "discard")
    return out


def _binary(pred: list[bool], truth: list[bool]) -> dict[str, Any]:
    tp = sum(p and t for p, t in zip(pred, truth, strict=True))
    fp = sum(p and not t for p, t in zip(pred, truth, strict=True))
    fn = sum((not p) and t for p, t in zip(pred, truth, strict=True))
    tn = sum((not p) and (not t) for p, t in zip(pred, truth, strict=True))
    n = len(pred)
    return {
        "n": n, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "accuracy": round((tp + tn) / n, 4) if n else None,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
    }


def _fmt(v: Any) -> str:
    return "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def agreement_report(corpus_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Run the offline curation on the corpus and write ``agreement.json``, ``agreement.md`` and
    ``cases.parquet`` under ``out_dir``; returns the figures (see the module docstring)."""
    from echo_bench.ingest import IngestSettings, ingest_dumps

    log = logging.getLogger("echo_bench.curate.agreement")
    corpus = Path(corpus_dir)
    out = Path(out_dir)
    work = out / "work"
    truth = [json.loads(line) for line in (corpus / "truth.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    ing = ingest_dumps([(corpus, "twitter_v2")], work / "media", IngestSettings(), log=log)
    res = run_offline(ing.posts, ing.media, work, apply_relevance=False, log=log)
    processed = res["processed"]
    where = placement(res["final"])
    scores = dict(res["scores"].filter(pl.col("post_id") == pl.col("thread_id")).select("post_id", "score").iter_rows())
    by_thread = {r["thread_id"]: r for r in processed.sort("sample_index").iter_rows(named=True) if r["sample_index"] == 0}
    cases = []
    for t in truth:
        row = by_thread.get(t["post_id"])
        got = (row["extracted_prompt"] if row else "") or ""
        blanks = find_blanks(got)
        needs = bool(row) and (row["task_type"] != "text_to_image" or fz.needs_input(got))
        cases.append({
            "post_id": t["post_id"],
            "true_prompt": t["prompt"],
            "extracted_prompt": got,
            "prompt_ratio": float(fuzz.ratio(got.strip(), (t["prompt"] or "").strip())),
            "rule": (row["notes"] if row else "no candidate"),
            "quality": row["quality"] if row else None,
            "task_type": row["task_type"] if row else None,
            "predicted_needs_input": needs,
            "needs_reference_image": bool(t["needs_reference_image"]),
            "placement": where.get(row["sample_id"], "none") if row else "none",
            "predicted_fill_in_blank": bool(blanks),
            "blanks": blanks,
            "fill_in_blank": bool(t["fill_in_blank"]),
            "relevance": scores.get(t["post_id"]),
        })
    ratios = [c["prompt_ratio"] for c in cases]
    rules = Counter(c["rule"].split(";")[0].replace("offline rule ", "") for c in cases)
    place = Counter((c["needs_reference_image"], c["placement"]) for c in cases)
    figures = {
        "corpus": corpus.name,
        "cases": len(cases),
        "cases_with_candidate": sum(1 for c in cases if c["quality"] is not None),
        "prompt": {
            "mean_ratio": round(statistics.fmean(ratios), 2) if ratios else None,
            "median_ratio": round(statistics.median(ratios), 2) if ratios else None,
            "share_ratio_ge_90": round(sum(r >= 90 for r in ratios) / len(ratios), 4) if ratios else None,
            "share_exact": round(sum(r == 100 for r in ratios) / len(ratios), 4) if ratios else None,
            "share_found_by_a_rule": round(sum("rule none" not in c["rule"] for c in cases) / len(cases), 4) if cases else None,
            "by_rule": dict(sorted(rules.items())),
        },
        "needs_input_vs_needs_reference_image": _binary(
            [c["predicted_needs_input"] for c in cases], [c["needs_reference_image"] for c in cases]
        ),
        "placement_by_needs_reference_image": {
            str(flag): {p: n for (f, p), n in sorted(place.items()) if f == flag} for flag in (False, True)
        },
        "fill_in_blank": _binary([c["predicted_fill_in_blank"] for c in cases], [c["fill_in_blank"] for c in cases]),
        "relevance": {
            "root_score_histogram": dict(sorted(Counter(str(c["relevance"]) for c in cases).items())),
            "share_roots_ge_3": round(sum((c["relevance"] or 0) >= 3 for c in cases) / len(cases), 4) if cases else None,
            "keyword_hits": int(res["queried"].filter(pl.col("matched_keywords").list.len() > 0).height),
            "note": "measured only: the corpus' posts are prompts without captions, so relevance is not applied",
        },
        "labels": res["summaries"]["finalize"]["labels"],
        "splits": res["summaries"]["finalize"]["splits"],
        "producer": "offline-heuristic (rules v1)",
    }
    nr = figures["needs_input_vs_needs_reference_image"]
    fb = figures["fill_in_blank"]
    lines = [
        f"# Offline curation vs truth: {corpus.name} ({len(cases)} cases)",
        "",
        "| measure | value |",
        "|---|---|",
        f"| extracted prompt vs true prompt: mean rapidfuzz ratio | {_fmt(figures['prompt']['mean_ratio'])} |",
        f"| extracted prompt vs true prompt: share with ratio >= 90 | {_fmt(figures['prompt']['share_ratio_ge_90'])} |",
        f"| extracted prompt vs true prompt: share exact (ratio 100) | {_fmt(figures['prompt']['share_exact'])} |",
        f"| share of cases where a rule found a prompt (else the root text stands in) "
        f"| {_fmt(figures['prompt']['share_found_by_a_rule'])} |",
        f"| needs an input image (predicted) vs needs_reference_image: accuracy | {_fmt(nr['accuracy'])} |",
        f"| ... precision / recall (positive = image-to-image) | {_fmt(nr['precision'])} / {_fmt(nr['recall'])} |",
        f"| fill-in-the-blank detected vs fill_in_blank: accuracy | {_fmt(fb['accuracy'])} |",
        f"| ... precision / recall | {_fmt(fb['precision'])} / {_fmt(fb['recall'])} |",
        f"| roots with offline relevance >= 3 (not applied) | {_fmt(figures['relevance']['share_roots_ge_3'])} |",
        "",
        "Placement of each case after finalize, by the truth's needs_reference_image:",
        "",
        "| needs_reference_image | " + " | ".join(sorted({p for (_, p) in place})) + " |",
        "|---|" + "---|" * len({p for (_, p) in place}),
    ]
    for flag in (False, True):
        lines.append(f"| {flag} | " + " | ".join(str(place.get((flag, p), 0)) for p in sorted({p for (_, p) in place})) + " |")
    lines += [
        "",
        f"Confusion, needs input: tp {nr['tp']}, fp {nr['fp']}, fn {nr['fn']}, tn {nr['tn']}; "
        f"fill-in-the-blank: tp {fb['tp']}, fp {fb['fp']}, fn {fb['fn']}, tn {fb['tn']}.",
        f"Prompt rules used: {figures['prompt']['by_rule']}.",
        "Offline backend, every knob at its library default; a baseline, not a target.",
        "",
    ]
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "agreement.json", figures)
    write_text(out / "agreement.md", "\n".join(lines))
    write_parquet(pl.DataFrame(cases), out / "cases.parquet")
    return figures


def sample_report(dump_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Agreement on an embedded sample dump (truth per thread), keyword query and relevance applied."""
    from echo_bench.collect import collect
    from echo_bench.ingest import IngestSettings, ingest_dumps

    log = logging.getLogger("echo_bench.curate.agreement")
    dump = Path(dump_dir)
    out = Path(out_dir)
    work = out / "work"
    truth = {}
    for line in (dump / "truth.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            t = json.loads(line)
            truth[t["root_post_id"]] = t
    ing = ingest_dumps([(dump, "auto")], work / "media", IngestSettings(), log=log)
    col = collect(ing.posts, keywords=list(DEFAULT_KEYWORDS))
    res = run_offline(ing.posts, ing.media, work, queried=col.queried, log=log)
    kept = set(res["kept"]["thread_id"].to_list())
    where = placement(res["final"])
    processed = {r["thread_id"]: r for r in res["processed"].iter_rows(named=True) if r["sample_index"] == 0}
    rel_pred, rel_true, ratios, label_pairs, task_pairs = [], [], [], Counter(), Counter()
    for tid, t in truth.items():
        rel_pred.append(tid in kept)
        rel_true.append(bool(t["is_relevant"]))
        row = processed.get(tid)
        if row is not None and t.get("prompt"):
            ratios.append(float(fuzz.ratio((row["extracted_prompt"] or "").strip(), t["prompt"].strip())))
        got = where.get(row["sample_id"], "none") if row else "not extracted"
        label_pairs[(t.get("expected_label") or "none", got)] += 1
        if row is not None and t.get("task_type"):
            task_pairs[(t["task_type"], row["task_type"])] += 1
    figures = {
        "threads": len(truth),
        "relevance_kept_vs_is_relevant": _binary(rel_pred, rel_true),
        "prompt": {
            "compared": len(ratios),
            "mean_ratio": round(statistics.fmean(ratios), 2) if ratios else None,
            "share_ratio_ge_90": round(sum(r >= 90 for r in ratios) / len(ratios), 4) if ratios else None,
        },
        "expected_label_vs_placement": {f"{a} -> {b}": n for (a, b), n in sorted(label_pairs.items())},
        "task_type_truth_vs_predicted": {f"{a} -> {b}": n for (a, b), n in sorted(task_pairs.items())},
        "splits": res["summaries"]["finalize"]["splits"],
        "labels": res["summaries"]["finalize"]["labels"],
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "sample_agreement.json", figures)
    return figures


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Agreement of the offline curation with a truth file.")
    ap.add_argument("corpus", help="awesome-gpt4o-images folder, or a sample dump with --sample")
    ap.add_argument("out")
    ap.add_argument("--sample", action="store_true", help="the corpus is an embedded sample dump")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    figures = sample_report(a.corpus, a.out) if a.sample else agreement_report(a.corpus, a.out)
    if not a.sample:
        print(Path(a.out, "agreement.md").read_text(encoding="utf-8"))
    print(json.dumps(figures, indent=2, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
