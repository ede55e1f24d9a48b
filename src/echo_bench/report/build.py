"""Assembling the report's data and rendering the self-contained HTML page.

Everything is plain data in, one string out: :func:`build_data` gathers what the
charts and the gallery show from other stages' outputs (already read into
Python objects), :func:`render_html` puts it into the page template with the
inline CSS and JavaScript.  Equal inputs give an equal file (sorted keys, no
dates, deterministic thumbnails).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

ASSETS = ("report.css", "report.js", "index.html")
DEFAULT_METRICS = ("color_shift", "face_identity", "structure_distance", "text_accuracy")
METRIC_LABELS = {
    "color_shift": "Color shift magnitude",
    "face_identity": "Face identity similarity",
    "structure_distance": "Structure distance",
    "text_accuracy": "Text rendering accuracy",
    "color_delta_e": "Color \u0394E00",
}


@dataclass(frozen=True)
class ReportSettings:
    title: str = "ECHO-bench report"
    splits: tuple[str, ...] = ("text_to_image", "image_to_image")
    metrics: tuple[str, ...] = DEFAULT_METRICS
    models: tuple[str, ...] | None = None  # None: every model of the generations
    gallery_per_split: int = 6
    thumb_px: int = 160
    jpeg_quality: int = 80
    embedding_max_points: int = 3000
    examples_per_keyword: int = 3
    seed: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)


def asset(name: str) -> str:
    return (resources.files("echo_bench.report") / "assets" / name).read_text(encoding="utf-8")


# --- images -------------------------------------------------------------------------------------------------------


def thumbnail(path: str | Path, px: int, quality: int) -> str | None:
    """A JPEG data URI of the image at ``path``, its longer side at most ``px``; None when unreadable."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGBA") if im.mode in ("P", "LA") else im
            if im.mode == "RGBA":
                bg = Image.new("RGB", im.size, (255, 255, 255))
                bg.paste(im, mask=im.getchannel("A"))
                im = bg
            im = im.convert("RGB")
            im.thumbnail((px, px), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=quality, optimize=True, progressive=False)
    except Exception:  # noqa: BLE001 - a missing or broken image is shown as missing
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class ImageStore:
    """Thumbnails by id, each file encoded once (the identity model's outputs often repeat an input)."""

    def __init__(self, root: Path, px: int, quality: int) -> None:
        self.root, self.px, self.quality = root, px, quality
        self.images: dict[str, str] = {}
        self._by_path: dict[str, str | None] = {}
        self.missing = 0

    def add(self, rel: str | None) -> str | None:
        if not rel:
            return None
        if rel in self._by_path:
            return self._by_path[rel]
        uri = thumbnail(self.root / rel, self.px, self.quality)
        if uri is None:
            self.missing += 1
            self._by_path[rel] = None
            return None
        key = "i" + hashlib.sha256(uri.encode("ascii")).hexdigest()[:12]
        self.images[key] = uri
        self._by_path[rel] = key
        return key


# --- the gallery -----------------------------------------------------------------------------------------------------


def gallery(
    samples: pl.DataFrame,
    generations: pl.DataFrame | None,
    settings: ReportSettings,
    store: ImageStore,
) -> dict[str, Any]:
    """Benchmark samples with their inputs, the community's output and each model's output side by side.

    Per split, ``gallery_per_split`` samples: those with the most ok model outputs
    first (for image-to-image, those with an input image first), ties broken by a
    seeded hash of the sample id.
    """
    gens = generations if generations is not None else pl.DataFrame(schema={"split": pl.Utf8, "model": pl.Utf8,
                                                                            "sample_id": pl.Utf8, "status": pl.Utf8,
                                                                            "reason": pl.Utf8, "output_image": pl.Utf8})
    models = list(settings.models) if settings.models else sorted(set(gens["model"].to_list()))
    out_of: dict[tuple[str, str, str], tuple[str, str | None, str | None]] = {}
    for split, model, sid, status, reason, img in gens.select("split", "model", "sample_id", "status", "reason",
                                                             "output_image").iter_rows():
        out_of[(split, sid, model)] = (status, reason, img)
    items = []
    for split in settings.splits:
        s = samples.filter(pl.col("split") == split)
        ranked = []
        for row in s.iter_rows(named=True):
            ok = sum(1 for m in models if out_of.get((split, row["sample_id"], m), ("",))[0] == "ok")
            has_in = 1 if row["input_images"] else 0
            h = hashlib.sha256(f"{settings.seed}:{row['sample_id']}".encode()).hexdigest()
            ranked.append((-ok, -has_in if split != "text_to_image" else 0, h, row))
        ranked.sort(key=lambda t: t[:3])
        for _, _, _, row in ranked[: settings.gallery_per_split]:
            outputs = {}
            for m in models:
                status, reason, img = out_of.get((split, row["sample_id"], m), ("missing", "no generation row", None))
                key = store.add(img) if status == "ok" else None
                outputs[m] = {"status": status if (status != "ok" or key) else "missing",
                              "reason": reason if status != "ok" else (None if key else "image file not readable"),
                              "img": key}
            items.append(
                {
                    "split": split,
                    "sample_id": row["sample_id"],
                    "task_type": row["task_type"],
                    "prompt": row["prompt"] or "",
                    "inputs": [k for k in (store.add(p) for p in (row["input_images"] or [])) if k],
                    "reference": [k for k in (store.add(p) for p in (row["reference_outputs"] or [])[:1]) if k],
                    "outputs": outputs,
                    "feedback": [f.get("text") for f in (row["feedback"] or [])][:3],
                }
            )
    return {"models": models, "items": items}


# --- the data of every chart ------------------------------------------------------------------------------------------


def winrate_data(docs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    out = {}
    for split, doc in docs.items():
        out[split] = {
            "prompts": doc.get("counts", {}).get("prompts"),
            "judges": sorted((doc.get("settings", {}).get("judges") or {}).keys()),
            "offline_only": bool(doc.get("offline_only")),
            "level": doc.get("settings", {}).get("bootstrap", {}).get("level", 0.95),
            "models": [
                {"model": m["model"], "win_rate": m.get("win_rate"), "lo": m.get("win_rate_ci_low"),
                 "hi": m.get("win_rate_ci_high"), "battles": m.get("battles"), "bt_elo": m.get("bt_elo")}
                for m in doc.get("models", [])
            ],
        }
    return out


def metric_data(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str]) -> dict[str, Any]:
    out = {}
    for m in metrics:
        sub = [r for r in rows if r.get("metric") == m]
        higher = next((r.get("higher_is_better") for r in sub if r.get("higher_is_better") is not None), None)
        out[m] = {
            "label": METRIC_LABELS.get(m, m),
            "higher_is_better": higher,
            "rows": [{"model": r["model"], "split": r["split"], "value": r.get("value"), "lo": r.get("ci_low"),
                      "hi": r.get("ci_high"), "n_ok": r.get("n_ok"), "backend": r.get("backend")}
                     for r in sorted(sub, key=lambda r: (str(r["split"]), str(r["model"])))],
        }
    return out


def volume_data(volume_rows: Sequence[Mapping[str, Any]], spikes: Mapping[str, Any] | None) -> dict[str, Any]:
    series = (spikes or {}).get("series", "relevant")
    return {
        "series": series,
        "days": [{"date": str(r["date"]), "value": r.get(series), "queried": r.get("queried"),
                  "z": r.get("z"), "spike": bool(r.get("is_spike"))} for r in volume_rows],
        "spikes": (spikes or {}).get("spikes", []),
        "events": (spikes or {}).get("events", []),
        "method": (spikes or {}).get("method", {}),
    }


def embedding_data(rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any], max_points: int, seed: int) -> dict[str, Any]:
    rows = list(rows)
    if len(rows) > max_points:  # deterministic thinning: keep the points with the smallest seeded hash
        keyed = sorted(rows, key=lambda r: hashlib.sha256(f"{seed}:{r['group']}:{r['prompt']}".encode()).hexdigest())
        keep = {id(r) for r in keyed[:max_points]}
        rows = [r for r in rows if id(r) in keep]
    groups = list(dict.fromkeys(str(r["group"]) for r in rows))
    gi = {g: i for i, g in enumerate(groups)}
    return {
        "label": (info.get("embedding") or {}).get("label"),
        "tsne": info.get("tsne") or {},
        "groups": groups,
        "points": [[r["x"], r["y"], gi[str(r["group"])]] for r in rows],
        "prompts": [r["prompt"] for r in rows],
        "categories": [r.get("category") for r in rows],
    }


#: What the offline judge reads, stated on the page beside the controls report (docs/judging.md).
JUDGE_READS = (
    "The offline judge reads the metrics table: text_accuracy, face_identity, structure_distance and "
    "color_shift are the table's numbers, pixel signals only fill gaps. Its win rates on the controls "
    "restate the metrics; they check the judging path, not the models. A check that does not go through "
    "the table: the judge on pixels alone rates an exact copy 10 and a scramble, colour cast, noise or blank "
    "lower (tests/judge/test_offline.py)."
)


def build_data(
    *,
    settings: ReportSettings,
    winrates: Mapping[str, Mapping[str, Any]],
    metric_rows: Sequence[Mapping[str, Any]],
    volume_rows: Sequence[Mapping[str, Any]],
    spikes: Mapping[str, Any] | None,
    cloud: Mapping[str, Any] | None,
    examples: Mapping[str, Any] | None,
    embedding_rows: Sequence[Mapping[str, Any]],
    compare: Mapping[str, Any] | None,
    taxonomy_rows: Sequence[Mapping[str, Any]],
    gallery_data: Mapping[str, Any],
    images: Mapping[str, str],
    controls_rows: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    from echo_bench.analyses.wordcloud import CATEGORY_COLORS

    in_gallery = {(it["split"], it["sample_id"]) for it in gallery_data.get("items", [])}
    kw = []
    for k in (examples or {}).get("keywords", []):
        kw.append({**k, "examples": [dict(e, in_gallery=(e["split"], e["sample_id"]) in in_gallery)
                                     for e in k.get("examples", [])[: settings.examples_per_keyword]]})
    return {
        "title": settings.title,
        "splits": list(settings.splits),
        "metric_order": list(settings.metrics),
        "winrates": winrate_data({s: winrates[s] for s in settings.splits if s in winrates}),
        "metrics": metric_data(metric_rows, settings.metrics),
        "volume": volume_data(volume_rows, spikes),
        "wordcloud": {**(cloud or {"width": 900, "height": 450, "words": []}), "colors": CATEGORY_COLORS},
        "keywords": kw,
        "embedding": embedding_data(embedding_rows, compare or {}, settings.embedding_max_points, settings.seed),
        "compare": {"top_k": (compare or {}).get("top_k"),
                    "stats": [{k: v for k, v in s.items() if not k.startswith("task_")} for s in (compare or {}).get("stats", [])],
                    "sets": (compare or {}).get("sets", [])},
        "taxonomy": {"rows": list(taxonomy_rows)},
        "gallery": dict(gallery_data),
        "images": dict(sorted(images.items())),
        "notes": dict(settings.extra),
        "controls": {"rows": [dict(r) for r in controls_rows], "judge_reads": JUDGE_READS},
    }


def _finite(x: Any) -> Any:
    """NaN and infinities as null, recursively (JSON has no NaN)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


_SLOT = re.compile(r"\{\{(TITLE|CSS|JS|DATA)\}\}")


def render_html(data: Mapping[str, Any]) -> str:
    """The page: template + inline CSS + inline JS + data JSON (``<`` escaped so it cannot close the script)."""
    payload = json.dumps(_finite(data), sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # no "<" at all in the script element (neither "</script" nor "<!--" can then end or confuse it)
    payload = payload.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    title = str(data.get("title", "report")).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    values = {"TITLE": title, "CSS": asset("report.css"), "JS": asset("report.js"), "DATA": payload}
    if "</script" in values["JS"].lower() or "</style" in values["CSS"].lower():
        raise ValueError("report assets must not contain </script or </style")
    return _SLOT.sub(lambda m: values[m.group(1)], asset("index.html"))
