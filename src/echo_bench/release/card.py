"""The dataset card of a release (``README.md``): YAML header for the Hugging Face hub, then prose.

Every column of every released table must have an entry in :data:`FIELDS` (what it means and
which stage / backend produced it); :func:`render` raises if one is missing, so the card cannot
silently fall behind the schemas.  The card holds no times or host names: it is a function of the
release's content and settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl
import yaml

#: config -> column -> (meaning, provenance: the stage and backend that produced it)
FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    "samples": {
        "sample_id": ("stable id: hash of the thread id and the sample's index in it", "extract stage"),
        "split": ("analysis | text_to_image | image_to_image", "finalize stage (curator label and task type)"),
        "thread_id": ("post id of the reply tree's root the sample came from", "threads stage (reply trees)"),
        "created_at": ("time of the thread's root post, UTC", "raw dump, via ingest"),
        "lang": ("language code of the root post as the source gives it", "raw dump, via ingest"),
        "prompt": ("the instruction: verbatim post text where possible", "extract stage (LLM or offline rules); "
                   "multimodal stage fills blanks / reads chat screenshots"),
        "prompt_modified": ("true when the prompt was stitched, filled or rewritten rather than verbatim",
                            "extract and multimodal stages"),
        "task_type": ("text_to_image | edit | multi_image (number of input images: 0, 1, more)",
                      "multimodal stage (image roles)"),
        "input_images": ("images the model is given, in order", "images attached to posts (ingest media store) or "
                         "crops of chat screenshots (multimodal stage)"),
        "reference_outputs": ("what the community's model produced for this prompt",
                              "images attached to posts, sorted into outputs by the multimodal stage"),
        "quality": ("Benchmark | Analysis | Trash as judged at extraction", "extract stage"),
        "label": ("Benchmark | Manual Review | Discard", "finalize stage (curator pass)"),
        "feedback": ("community replies that judge the result: list of {post_id, text}", "extract stage, post text "
                     "verbatim from the raw dump"),
        "producer": ("backend and model of each curation step that made the sample", "extract/multimodal/finalize"),
    },
    "outputs": {
        "split": ("benchmark split", "generate stage"),
        "model": ("model name as in params generate.models", "params.yaml"),
        "sample_id": ("the sample answered", "samples config"),
        "status": ("ok | refused | failed | timeout | missing", "generate stage"),
        "reason": ("why the status is not ok", "generate stage / the backend's error"),
        "output_image": ("the model's output, normalized (RGB PNG, EXIF/ICC stripped, longer side capped)",
                         "the model's backend, then generate-stage image hygiene"),
        "sha256": ("sha256 of the normalized PNG bytes", "generate stage"),
        "backend": ("control | openai | openai_compatible | diffusers | import", "params generate.models"),
        "seed": ("seed derived from the run seed and the sample id, when the backend takes one", "generate stage"),
        "latency_s": ("wall time of the call (API / diffusers backends), else null", "generate stage"),
        "cost_usd": ("price_per_image of an ok output, 0 for failures, null when unknown", "params + generate stage"),
        "settings": ("canonical JSON of everything that made the output", "generate stage"),
        "output_path": ("path of the output in the pipeline's workspace", "generate stage"),
    },
    "judgments": {
        "split": ("benchmark split", "judge stage"),
        "sample_id": ("the sample judged", "samples config"),
        "model": ("the model whose output was judged", "generate stage"),
        "judge": ("the judge's name in params judge.judges", "params.yaml"),
        "backend": ("openai | anthropic | offline (offline = heuristic judge, no VLM)", "params judge.judges"),
        "template": ("judging template name and version", "params judge.template"),
        "repeat": ("repeat index (judge.repeats)", "judge stage"),
        "raw": ("the judge's reply, verbatim", "the judge's backend"),
        "score": ("parsed 1-10 rating, null when unparsable", "judge stage parser"),
        "status": ("ok | parse_failed | call_failed | no_output", "judge stage"),
        "error": ("error text when not ok", "judge stage"),
        "rating_form": ("which verdict spelling the parser matched (e.g. rating_brackets), null if none", "judge stage parser"),
        "rejected": ("JSON list of the replies the parser rejected, verbatim, with attempt numbers", "judge stage"),
        "judge_model": ("the judge's model string as sent", "params judge.judges"),
        "judge_model_reported": ("the model the provider reported in its reply (the heuristic's name offline)",
                                 "the judge's backend"),
        "prompt_sha256": ("SHA-256 of the rendered prompt, system + NUL + user", "judge stage"),
        "cache_key": ("content address of the verbatim reply in the response cache", "LLM client"),
    },
    "metric_values": {
        "split": ("benchmark split", "metrics stage"),
        "model": ("the model measured", "generate stage"),
        "sample_id": ("the sample", "samples config"),
        "metric": ("color_shift | color_delta_e | face_identity | structure_distance | text_accuracy",
                   "params metrics.enabled"),
        "value": ("the metric's value, null unless status is ok", "metrics stage (backend in release.json)"),
        "status": ("ok | not_applicable | no_face | no_output | failed", "metrics stage"),
        "detail": ("JSON with the metric's extra numbers", "metrics stage"),
    },
    "applicability": {
        "sample_id": ("the sample", "samples config"),
        "family": ("color | face | structure | text", "metrics stage"),
        "applicable": ("whether the metric family applies to the sample", "metrics applicability (backend column)"),
        "reason": ("why (rule or LLM verdict)", "metrics applicability"),
        "target_text": ("text family: the pieces of text the prompt asks to render", "metrics applicability"),
        "backend": ("offline-rules or <llm backend>/<model>", "params metrics.applicability"),
    },
}

CONFIG_TEXT = {
    "samples": "the benchmark: one row per sample, the three splits",
    "outputs": "every released model's output for every benchmark sample",
    "judgments": "every judge's verbatim judgment and parsed score of every output",
    "metric_values": "the community-driven metrics of every output",
    "applicability": "which metric family applies to which sample",
}


def _header(doc: Mapping[str, Any], tables: Mapping[str, Mapping[str, pl.DataFrame]]) -> str:
    from echo_bench.release.export import CONFIGS

    configs = []
    for config, folder, splits in CONFIGS:
        if config not in tables:
            continue
        entry: dict[str, Any] = {"config_name": config}
        if config == "samples":
            entry["default"] = True
        entry["data_files"] = [{"split": s, "path": f"{folder}/{s}.parquet"} for s in splits if s in tables[config]]
        configs.append(entry)
    lic = doc.get("licenses", {})
    head: dict[str, Any] = {
        "pretty_name": doc.get("name"),
        "license": lic.get("spdx", "other"),
        "task_categories": ["text-to-image", "image-to-image"],
        "tags": ["benchmark", "image-generation", "image-editing", "community-feedback"],
        "configs": configs,
    }
    return "---\n" + yaml.safe_dump(head, sort_keys=False, width=120, allow_unicode=True) + "---\n"


def _table(rows: list[list[Any]], header: list[str]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |")
    return "\n".join(out) + "\n"


#: The embedded synthetic sample dump (params ingest.dumps by default).
SAMPLE_DUMP = "data/raw/sample"


def _sources(doc: Mapping[str, Any]) -> str:
    """The "Built from" section: the raw dumps (params ingest.dumps) the release was made from."""
    sources = list(doc.get("sources") or [])
    if not sources:
        return "## Built from\n\nThe raw dumps of this release were not recorded.\n\n"
    lines = ["## Built from\n\n", "The raw post dumps (params `ingest.dumps`):\n\n"]
    for d in sources:
        path = str(d.get("path"))
        note = " (the embedded synthetic sample of the ECHO-bench repository)" if path.rstrip("/") == SAMPLE_DUMP else ""
        lines.append(f"- `{path}`, format {d.get('format', 'auto')}{note}\n")
    return "".join(lines) + "\n"


def render(doc: Mapping[str, Any], tables: Mapping[str, Mapping[str, pl.DataFrame]]) -> str:
    """The card's text for the release described by ``doc`` (see :func:`echo_bench.release.export.describe`)."""
    for config, splits in tables.items():
        for split, df in splits.items():
            undocumented = [c for c in df.columns if c not in FIELDS.get(config, {})]
            if undocumented:
                raise ValueError(f"card: columns of {config}/{split} without a FIELDS entry: {undocumented}")
    counts = doc["counts"]
    parts = [_header(doc, tables)]
    parts.append(f"# {doc.get('name')} (version {doc.get('version')})\n\n")
    parts.append(
        f"A benchmark of image generation and editing built from what people posted about "
        f"**{doc.get('model_of_interest')}**: the prompts they shared, the images they attached and what others "
        "replied about the results, following ECHO (Ge, Luo et al., arXiv 2510.15021). Built by the ECHO-bench "
        "pipeline (`dvc repro`); every number below is read from the released files.\n\n")
    parts.append(_sources(doc))

    parts.append("## Backends that produced this release\n\n")
    if doc.get("offline"):
        parts.append("**Parts of this release were produced by offline stand-ins, not by real LLMs, VLMs or image "
                     "generators.** Treat their numbers as a check of the pipeline, not as findings about models:\n\n")
        parts.extend(f"- {line}\n" for line in doc["offline"])
        parts.append("\n")
    b = doc["backends"]
    rows = [[f"curation: {k}", v] for k, v in sorted(b.get("curation", {}).items())]
    rows += [[f"model: {k}", ", ".join(v["backend"])] for k, v in sorted(b.get("models", {}).items())]
    rows += [[f"judge: {k}", ", ".join(v["backend"]) + f" ({', '.join(v['template'])})"]
             for k, v in sorted(b.get("judges", {}).items())]
    rows += [[f"metric: {k}", v] for k, v in sorted(b.get("metrics", {}).items())]
    if b.get("applicability"):
        rows.append(["metric applicability", ", ".join(b["applicability"])])
    parts.append(_table(rows, ["what", "backend"]))
    if b.get("sample_producers"):
        parts.append("\nSample `producer` values: " + "; ".join(f"`{p}`" for p in b["sample_producers"]) + "\n")

    parts.append("\n## Counts\n\n")
    rows = []
    for split, n in counts["samples"].items():
        by_type = ", ".join(f"{k}: {v}" for k, v in counts["samples_by_task_type"][split].items())
        rows.append([split, n, by_type or "-", counts.get("outputs", {}).get(split, "-"),
                     counts.get("judgments", {}).get(split, "-"), counts.get("metric_values", {}).get(split, "-")])
    parts.append(_table(rows, ["split", "samples", "by task type", "model outputs", "judgments", "metric values"]))
    parts.append(f"\nDistinct image files: {counts['images']} ({counts['image_bytes']} bytes), "
                 f"{'embedded in the Parquet files' if doc['images'] == 'embed' else 'under images/'}.\n")

    if doc.get("headline"):
        parts.append("\n## Headline win rates\n\n")
        rows = []
        for split, h in doc["headline"].items():
            for model, wr in sorted((h.get("win_rate") or {}).items(), key=lambda kv: -(kv[1] or 0)):
                rows.append([split, model, "-" if wr is None else f"{wr:.3f}", h.get("prompts")])
        parts.append(_table(rows, ["split", "model", "win rate", "prompts"]))
        parts.append("\nWin rate: mean over pseudo-pairwise battles per prompt (win 1, tie 0.5, loss 0) after the vote "
                     "across judges; intervals in `results/winrates.json` (bootstrap over prompts).\n")

    parts.append("\n## Files and configs\n\n")
    from echo_bench.release.export import CONFIGS
    rows = [[f"`{c}`", f"`{f}/<split>.parquet`", ", ".join(s for s in splits if s in tables.get(c, {})),
             CONFIG_TEXT[c]] for c, f, splits in CONFIGS if c in tables]
    parts.append(_table(rows, ["config", "files", "splits", "what"]))
    parts.append("\n`release.json` lists the sha256 of every file; `results/` holds the headline win rates and "
                 "the per-model metric table.\n")

    parts.append("\n## Schema and provenance of every field\n\n")
    for config, _, _ in CONFIGS:
        if config not in tables:
            continue
        df = next(iter(tables[config].values()))
        parts.append(f"### `{config}`\n\n")
        rows = [[f"`{c}`", str(df.schema[c]), *FIELDS[config][c]] for c in df.columns]
        parts.append(_table(rows, ["column", "type", "meaning", "produced by"]))
        parts.append("\n")
    if doc["images"] == "embed":
        parts.append("Image columns are Hugging Face `Image` values, a struct `{bytes, path}`: `bytes` is the file "
                     "as posted (or the normalized PNG of a model output), `path` its content-addressed name "
                     "(`<sha256>.<ext>` for posted images).\n\n")
    else:
        parts.append("Image columns hold paths relative to the release folder (`images/...`).\n\n")

    parts.append("## How it was built\n\n")
    parts.append(
        "1. Collect: a keyword query over raw post dumps, then an LLM relevance score (1-5) with a threshold.\n"
        "2. Reconstruct: reply trees from conversation ids and in-reply-to links.\n"
        "3. Extract: an LLM reads each tree and emits samples (prompt, image posts, quality, feedback).\n"
        "4. Multimodal: images sorted into inputs and outputs; junk and duplicates dropped; blanks filled; "
        "chat screenshots cropped.\n"
        "5. Finalize: Benchmark / Manual Review / Discard; near-duplicates removed; the three splits.\n"
        "6. Generate: every model under evaluation answers every benchmark sample.\n"
        "7. Judge: single-answer grading by each judge, pseudo-pairwise battles per prompt, a vote across judges.\n"
        "8. Metrics: colour shift, face identity, structure distance, text accuracy where applicable.\n\n"
        f"Settings that produced the numbers (from params.yaml; sha256 of their canonical JSON "
        f"`{doc.get('settings_sha256')}`):\n\n```yaml\n"
        + yaml.safe_dump(doc.get("settings", {}), sort_keys=True, width=120, allow_unicode=True) + "```\n\n")

    parts.append("## Licences\n\n")
    lic = doc.get("licenses", {})
    parts.extend(f"- **{k}**: {v}\n" for k, v in sorted(lic.items()))
    parts.append("\n## Loading\n\n")
    parts.append(
        "```python\nfrom datasets import load_dataset\n"
        "ds = load_dataset(\"parquet\", data_files={s: f\"<release>/samples/{s}.parquet\" "
        "for s in [\"analysis\", \"text_to_image\", \"image_to_image\"]})\n"
        "ds[\"image_to_image\"][0][\"input_images\"][0]  # a PIL image\n\n"
        "import polars as pl\npl.read_parquet(\"<release>/samples/text_to_image.parquet\")\n\n"
        "from echo_bench.release.loader import load_split\nload_split(\"<release>\", \"text_to_image\")\n```\n\n"
        "Evaluate a new model against the released ones: `echo-bench evaluate --release <release> "
        "--outputs <folder> --name <model>` (docs/evaluate.md of the ECHO-bench repository).\n")
    return "".join(parts)
