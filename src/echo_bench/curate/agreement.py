"""Agreement of the offline curation with a corpus' truth file: a measuring instrument, not a target.

:func:`agreement_report` reads any corpus: a folder holding a raw dump in any
format ingest reads (twitter_v2 pages, twscrape or snscrape JSON Lines, detected
per file) with its images, and a truth file (``truth.jsonl``, one JSON object
per case).  It runs ingest -> keyword match -> threads -> relevance ->
extraction -> image step -> finalize with the offline backends and compares,
case by case, whatever the truth provides.

Truth schema (docs/curation.md, "Agreement"): ``post_id`` (required: the post
that carries the case; a thread root, or any post of the thread) and the
optional fields, each of which enables its figures:

* ``prompt`` (string): extracted prompt vs true prompt (rapidfuzz ``ratio``);
* ``needs_reference_image`` (bool): needs-input precision/recall;
* ``fill_in_blank`` (bool): placeholder detection precision/recall;
* ``is_relevant`` (bool): relevance kept vs relevant; without it the relevance
  figure is the drop rate among the truth's cases (all taken as relevant posts);
* ``lang`` (string): the language of the breakdowns; without it the post's
  ``lang`` from the dump, else a guess from the script of its text.

A figure whose field no case carries is reported as ``"not measured: ..."``,
never as a number.  Every figure is broken down by language, by extraction
rule and by corpus half (``tuning``/``held_out``: a fixed hash of the post id,
:func:`corpus_half`).  A corpus the tool cannot measure stops it with an
:class:`AgreementError` saying what the corpus lacks.

The keyword query and the relevance threshold are measured and reported but,
unless ``apply_relevance``, not applied: a corpus of prompt posts is on topic
by construction (``collect.match_all``), and the cases must all reach
extraction to be compared.

:func:`sample_report` does the same for an embedded sample dump
(``data/raw/sample``: ``truth.jsonl`` with one line per thread), where the
keyword query and the relevance threshold are applied as in the pipeline.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
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
from echo_bench.curate.heuristics import DEFAULT_NAMES, RULES_VERSION, find_blanks
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


class AgreementError(ValueError):
    """The corpus cannot be measured; the message says what it lacks."""


#: The truth file's fields: type, and the figures each one enables.
TRUTH_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "post_id": (str, "required: the post that carries the case (a thread root or any post of its thread)"),
    "prompt": ((str, type(None)), "extracted prompt vs true prompt (ratio)"),
    "needs_reference_image": (bool, "needs-input precision / recall"),
    "fill_in_blank": (bool, "fill-in-the-blank precision / recall"),
    "is_relevant": (bool, "relevance kept vs relevant"),
    "lang": (str, "the language of the breakdowns"),
}
TRUTH_FILE = "truth.jsonl"
HALVES = ("tuning", "held_out")
_NOT_DUMP = {"media", "images", "out"}
_DUMP_SUFFIXES = (".json", ".jsonl", ".ndjson")  # what ingest reads in a dump folder


def corpus_half(post_id: str) -> str:
    """``tuning`` or ``held_out``: the parity of the first 32 bits of sha256(post_id).

    Fixed for ever, so the held-out half of a corpus stays held out: offline
    rules may be written from the tuning half's cases only.
    """
    return HALVES[int(hashlib.sha256(post_id.encode("utf-8")).hexdigest()[:8], 16) % 2]


def guess_language(text: str) -> str:
    """A language label from the script of ``text``: ja (kana), ko (Hangul), zh (Han), else latin/other."""
    if re.search(r"[\u3040-\u30ff]", text):
        return "ja"
    if re.search(r"[\uac00-\ud7af]", text):
        return "ko"
    han = len(re.findall(r"[\u4e00-\u9fff\u3400-\u4dbf]", text))
    letters = len(re.findall(r"[A-Za-z]", text))
    if han and han * 2 >= letters:
        return "zh"
    return "latin" if letters else "other"


def read_truth(path: Path) -> list[dict[str, Any]]:
    """The truth cases; an :class:`AgreementError` names the line and field of a bad one."""
    if not path.is_file():
        raise AgreementError(
            f"no truth file {path}: the corpus needs one JSON object per line with {sorted(TRUTH_FIELDS)} "
            "(post_id required; docs/curation.md, 'Agreement')"
        )
    cases: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except ValueError as e:
            raise AgreementError(f"{path}:{n}: not JSON ({e})") from e
        if not isinstance(case, dict):
            raise AgreementError(f"{path}:{n}: a case is a JSON object, not {type(case).__name__}")
        if case.get("post_id") in (None, ""):
            raise AgreementError(f"{path}:{n}: the case has no post_id (required)")
        case["post_id"] = str(case["post_id"])
        for key, (typ, _) in TRUTH_FIELDS.items():
            if key in case and not isinstance(case[key], typ):
                raise AgreementError(f"{path}:{n}: {key} is {case[key]!r}, expected {typ}")
        if case["post_id"] in seen:
            raise AgreementError(f"{path}:{n}: post_id {case['post_id']} is listed twice")
        seen.add(case["post_id"])
        cases.append(case)
    if not cases:
        raise AgreementError(f"truth file {path} has no case")
    return cases


def dump_paths(corpus: Path, truth_path: Path) -> list[Path]:
    """What of the corpus folder is the dump: every entry but the truth file and the media folders."""
    if corpus.is_file():
        return [corpus]
    return [p for p in sorted(corpus.iterdir())
            if p.resolve() != truth_path.resolve() and not p.name.startswith(".") and p.name not in _NOT_DUMP
            and (p.is_dir() or p.name.lower().removesuffix(".gz").endswith(_DUMP_SUFFIXES))]


def _not_measured(why: str) -> str:
    return f"not measured: {why}"


def _ratio_figures(cases: list[dict[str, Any]]) -> dict[str, Any] | str:
    with_truth = [c for c in cases if c.get("true_prompt") is not None]
    if not with_truth:
        return _not_measured("no case has a true prompt (truth field 'prompt')")
    got = [c for c in with_truth if c["quality"] is not None]
    if not got:
        return _not_measured(f"none of the {len(with_truth)} cases with a prompt was extracted")
    ratios = [c["prompt_ratio"] for c in got]
    return {
        "n": len(got),
        "not_extracted": len(with_truth) - len(got),
        "mean_ratio": round(statistics.fmean(ratios), 2),
        "median_ratio": round(statistics.median(ratios), 2),
        "share_ratio_ge_90": round(sum(r >= 90 for r in ratios) / len(ratios), 4),
        "share_exact": round(sum(r == 100 for r in ratios) / len(ratios), 4),
    }


def _flag_figures(cases: list[dict[str, Any]], pred: str, truth: str) -> dict[str, Any] | str:
    have = [c for c in cases if c.get(truth) is not None and c["quality"] is not None]
    if not have:
        return _not_measured(f"no extracted case carries the truth field '{truth}'")
    return _binary([bool(c[pred]) for c in have], [bool(c[truth]) for c in have])


def _relevance_figures(cases: list[dict[str, Any]], threshold: int) -> dict[str, Any]:
    scored = [c for c in cases if c["relevance"] is not None]
    out: dict[str, Any] = {"n": len(scored), "threshold": threshold}
    if not scored:
        out["drop_rate"] = _not_measured("no case's thread was scored")
        return out
    out["drop_rate"] = round(sum(c["relevance"] < threshold for c in scored) / len(scored), 4)
    out["by_rule"] = dict(sorted(Counter(c["relevance_rule"] for c in scored if c["relevance"] < threshold).items()))
    labelled = [c for c in scored if c.get("is_relevant") is not None]
    out["kept_vs_is_relevant"] = (
        _binary([c["relevance"] >= threshold for c in labelled], [bool(c["is_relevant"]) for c in labelled])
        if labelled else _not_measured("the truth has no 'is_relevant'; drop_rate counts every case as relevant")
    )
    return out


def _figures(cases: list[dict[str, Any]], threshold: int) -> dict[str, Any]:
    return {
        "cases": len(cases),
        "extracted": sum(c["quality"] is not None for c in cases),
        "prompt": _ratio_figures(cases),
        "needs_input": _flag_figures(cases, "predicted_needs_input", "needs_reference_image"),
        "fill_in_blank": _flag_figures(cases, "predicted_fill_in_blank", "fill_in_blank"),
        "relevance": _relevance_figures(cases, threshold),
    }


def _by(cases: list[dict[str, Any]], key: str, threshold: int) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in cases:
        groups.setdefault(str(c[key]), []).append(c)
    return {k: _figures(v, threshold) for k, v in sorted(groups.items())}


def _cell(fig: Any, key: str) -> str:
    """A table cell: ``n/m`` for a figure (or a value) that was not measured."""
    if isinstance(fig, str) or isinstance(fig.get(key), str):
        return "n/m"
    return _fmt(fig.get(key))


def _markdown(figures: dict[str, Any]) -> str:
    lines = [f"# Offline curation vs truth: {figures['corpus']} ({figures['cases']} cases)", "",
             f"Dump formats: {figures['formats']}; posts read: {figures['posts_read']}; truth cases not in the dump: "
             f"{figures['cases_not_in_dump']}. Producer: {figures['producer']}; a baseline, not a target.",
             "", "`n/m` = not measured (the truth lacks the field; see agreement.json for why).", ""]
    header = ("| group | cases | extracted | prompt mean ratio | ratio >= 90 | needs-input P / R | "
              "blank P / R | relevance drop rate |")
    for title, groups in (("All cases", {"all": figures["overall"]}), ("By language", figures["by_language"]),
                          ("By corpus half", figures["by_half"]), ("By extraction rule", figures["by_rule"])):
        lines += [f"## {title}", "", header, "|---|---|---|---|---|---|---|---|"]
        for name, f in groups.items():
            ni, fb = f["needs_input"], f["fill_in_blank"]
            lines.append(
                f"| {name} | {f['cases']} | {f['extracted']} | {_cell(f['prompt'], 'mean_ratio')} | "
                f"{_cell(f['prompt'], 'share_ratio_ge_90')} | {_cell(ni, 'precision')} / {_cell(ni, 'recall')} | "
                f"{_cell(fb, 'precision')} / {_cell(fb, 'recall')} | {_cell(f['relevance'], 'drop_rate')} |"
            )
        lines.append("")
    return "\n".join(lines)


def agreement_report(
    corpus_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    truth_file: str | os.PathLike[str] | None = None,
    threshold: int = 3,
    apply_relevance: bool = False,
) -> dict[str, Any]:
    """Run the offline curation on the corpus and write ``agreement.json``, ``agreement.md`` and
    ``cases.parquet`` under ``out_dir``; returns the figures (see the module docstring)."""
    from echo_bench.ingest import IngestSettings, ingest_dumps

    log = logging.getLogger("echo_bench.curate.agreement")
    corpus = Path(corpus_dir)
    if not corpus.exists():
        raise AgreementError(f"corpus {corpus} does not exist")
    out = Path(out_dir)
    work = out / "work"
    truth_path = Path(truth_file) if truth_file else corpus / TRUTH_FILE
    truth = read_truth(truth_path)
    dumps = dump_paths(corpus, truth_path)
    if not dumps:
        raise AgreementError(f"corpus {corpus} holds no dump next to its truth file")
    ing = ingest_dumps([(p, "auto") for p in dumps], work / "media", IngestSettings(), log=log)
    if ing.posts.height == 0:
        raise AgreementError(
            f"no post read from {[str(p) for p in dumps]}: files by format {ing.summary.get('files_by_format')}, "
            f"quarantined {ing.summary.get('quarantine_reasons')}; the corpus lacks a dump in a supported format "
            "(twitter_v2 pages, twscrape or snscrape JSON Lines)"
        )
    res = run_offline(ing.posts, ing.media, work, threshold=threshold, apply_relevance=apply_relevance, log=log)
    thread_of = {pid: tid for tid, pids in res["threads"].select("thread_id", "post_ids").iter_rows() for pid in pids}
    missing = [t["post_id"] for t in truth if t["post_id"] not in thread_of]
    if len(missing) == len(truth):
        raise AgreementError(
            f"none of the {len(truth)} truth post ids is a post of the dump (first: {missing[:3]}; "
            f"the dump has {ing.posts.height} posts, first ids {ing.posts['post_id'].head(3).to_list()})"
        )
    where = placement(res["final"])
    best: dict[str, tuple[int, str]] = {}
    for tid, score, reason in res["scores"].select("thread_id", "score", "reason").iter_rows():
        if score is not None and score > best.get(tid, (0, ""))[0]:
            best[tid] = (int(score), reason)
    by_thread = {r["thread_id"]: r for r in res["processed"].sort("sample_index").iter_rows(named=True)
                 if r["sample_index"] == 0}
    posts = {r[0]: r for r in ing.posts.select("post_id", "text", "lang").iter_rows()}
    cases = []
    for t in truth:
        tid = thread_of.get(t["post_id"])
        row = by_thread.get(tid) if tid else None
        got = (row["extracted_prompt"] if row else "") or ""
        _, text, lang = posts.get(t["post_id"], (None, "", None))
        lang = t.get("lang") or (lang if lang and lang not in ("und", "qme", "zxx", "qam") else guess_language(text or ""))
        score, reason = best.get(tid, (None, "")) if tid else (None, "")
        cases.append({
            "post_id": t["post_id"],
            "in_dump": tid is not None,
            "half": corpus_half(t["post_id"]),
            "lang": lang,
            "true_prompt": t.get("prompt"),
            "extracted_prompt": got,
            "prompt_ratio": float(fuzz.ratio(got.strip(), (t.get("prompt") or "").strip())),
            "rule": (row["notes"].split(";")[0].replace("offline rule ", "") if row else "no candidate"),
            "quality": row["quality"] if row else None,
            "task_type": row["task_type"] if row else None,
            "predicted_needs_input": bool(row) and (row["task_type"] != "text_to_image" or fz.needs_input(got)),
            "needs_reference_image": t.get("needs_reference_image"),
            "placement": where.get(row["sample_id"], "none") if row else "none",
            "predicted_fill_in_blank": bool(find_blanks(got)),
            "blanks": find_blanks(got),
            "fill_in_blank": t.get("fill_in_blank"),
            "is_relevant": t.get("is_relevant"),
            "relevance": score,
            "relevance_rule": reason.split(":")[0].replace("offline rules ", "") if reason else "",
        })
    present = [c for c in cases if c["in_dump"]]
    figures = {
        "corpus": corpus.name,
        "truth_file": str(truth_path),
        "formats": ing.summary.get("files_by_format"),
        "posts_read": ing.posts.height,
        "cases": len(cases),
        "cases_not_in_dump": len(missing),
        "truth_fields": {k: sum(k in t for t in truth) for k in TRUTH_FIELDS},
        "overall": _figures(present, threshold),
        "by_language": _by(present, "lang", threshold),
        "by_half": _by(present, "half", threshold),
        "by_rule": _by(present, "rule", threshold),
        "relevance_applied": apply_relevance,
        "keyword_hits": int(res["queried"].filter(pl.col("matched_keywords").list.len() > 0).height),
        "labels": res["summaries"]["finalize"]["labels"],
        "splits": res["summaries"]["finalize"]["splits"],
        "producer": f"offline-heuristic (rules {RULES_VERSION})",
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "agreement.json", figures)
    write_text(out / "agreement.md", _markdown(figures))
    write_parquet(pl.DataFrame(cases, infer_schema_length=None), out / "cases.parquet")
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
    import sys

    ap = argparse.ArgumentParser(description="Agreement of the offline curation with a truth file.")
    ap.add_argument("corpus", help="a folder with a dump (any supported format) and truth.jsonl, "
                                   "or a sample dump with --sample")
    ap.add_argument("out")
    ap.add_argument("--truth", help="the truth file (default: <corpus>/truth.jsonl)")
    ap.add_argument("--threshold", type=int, default=3, help="relevance threshold measured (default 3)")
    ap.add_argument("--apply-relevance", action="store_true", help="drop the threads below the threshold")
    ap.add_argument("--sample", action="store_true", help="the corpus is an embedded sample dump")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        figures = (sample_report(a.corpus, a.out) if a.sample else
                   agreement_report(a.corpus, a.out, truth_file=a.truth, threshold=a.threshold,
                                    apply_relevance=a.apply_relevance))
    except AgreementError as e:
        print(f"agreement: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    if not a.sample:
        print(Path(a.out, "agreement.md").read_text(encoding="utf-8"))
    print(json.dumps(figures, indent=2, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
