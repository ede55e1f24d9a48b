"""Computing the metric values of a split for every model, and the per-model table.

Plain data in and out (frames, dicts); the stage module
(:mod:`echo_bench.stages.metrics`) only wires files and params to
:func:`compute_values` and :func:`aggregate`.

Per (split, model, sample, metric) one METRIC_VALUES row: ``ok`` with the value;
``not_applicable`` (the applicability verdict's reason in ``detail``);
``no_output`` (the model produced nothing: its generation status); ``no_face``
(face identity: no face in the input; an output that lost the input's face is
``ok`` with value :data:`LOST_FACE_SIMILARITY` and ``detail.face_lost``); ``failed`` (an image could
not be read, or a backend call failed; the error in ``detail``).
"""

from __future__ import annotations

import json
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import torch

from echo_bench.log import progress
from echo_bench.metrics import color as color_mod
from echo_bench.metrics.applicability import FAMILY_OF, applicable_map
from echo_bench.metrics.device import describe, resolve_batch_size, resolve_device
from echo_bench.metrics.images import load_rgb
from echo_bench.schemas import METRIC_VALUES

#: The face-identity value of an output that lost the input's face (the headline counts it as a
#: failure: the cosine of unrelated embeddings; docs/metrics.md).
LOST_FACE_SIMILARITY = 0.0

METRICS = ("color_shift", "color_delta_e", "face_identity", "structure_distance", "text_accuracy")
HIGHER_IS_BETTER = {
    "color_shift": False,
    "color_delta_e": False,
    "face_identity": True,
    "structure_distance": False,
    "text_accuracy": True,
}

#: One row per (split, model, metric): the per-model table.
TABLE = pl.Schema(
    {
        "split": pl.Utf8,
        "model": pl.Utf8,
        "metric": pl.Utf8,
        "backend": pl.Utf8,
        "value": pl.Float64,  # the model's number (color_shift: pooled; others: mean over ok samples)
        "mean": pl.Float64,  # mean of the per-sample values
        "std": pl.Float64,
        "ci_low": pl.Float64,  # bootstrap over samples, 95 %
        "ci_high": pl.Float64,
        "higher_is_better": pl.Boolean,
        "n_rows": pl.Int64,
        "n_applicable": pl.Int64,
        "n_ok": pl.Int64,
        "n_not_applicable": pl.Int64,
        "n_no_face": pl.Int64,
        "n_no_output": pl.Int64,
        "n_failed": pl.Int64,
        "extras": pl.Utf8,  # JSON: the metric's further aggregates
    }
)


@dataclass
class MetricsSettings:
    """Everything :func:`compute_values` needs, from ``params.yaml`` ``metrics:``."""

    enabled: Sequence[str] = METRICS
    device: str = "auto"
    batch_size: int | str = "auto"
    seed: int = 0
    bootstrap: int = 1000
    cpu_threads: int = 0  # torch intra-op threads on the CPU (0: torch's default)
    color: Mapping[str, Any] = field(default_factory=lambda: {"bins_lo": 5, "bins_hi": 250, "input_pool": "split",
                                                                 "lab_size": 256})
    face: Mapping[str, Any] = field(default_factory=lambda: {"backend": "dlib", "detector": "hog", "det_size": 640,
                                                                "upsample": 1, "model_dir": None,
                                                                "dlib_models_dir": None,
                                                                "same_person_distance": 0.6})
    structure: Mapping[str, Any] = field(default_factory=lambda: {"backend": "offline", "dino_weights": None,
                                                                     "size": 224})
    text: Mapping[str, Any] = field(default_factory=lambda: {"reader": "ocr", "min_ocr_score": 0.5,
                                                                "max_ed_en": 100, "max_ed_zh": 50,
                                                                "llm": {"backend": "offline"}})

    def __post_init__(self) -> None:
        unknown = [m for m in self.enabled if m not in METRICS]
        if unknown:
            raise ValueError(f"metrics.enabled has unknown metrics {unknown}; known: {list(METRICS)}")


class _ImageCache:
    """A small LRU of decoded images (inputs are shared by every model)."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._d: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, path: str) -> np.ndarray:
        if path in self._d:
            self._d.move_to_end(path)
            return self._d[path]
        img = load_rgb(path)
        self._d[path] = img
        if len(self._d) > self.size:
            self._d.popitem(last=False)
        return img


def _row(split: str, model: str, sid: str, metric: str, value: float | None, status: str, detail: Mapping) -> dict:
    if value is not None and not math.isfinite(value):
        value, status = None, "failed"
        detail = {**detail, "error": "non-finite value"}
    return {
        "split": split,
        "model": model,
        "sample_id": sid,
        "metric": metric,
        "value": value,
        "status": status,
        "detail": json.dumps(detail, sort_keys=True, ensure_ascii=False, default=_json_default),
    }


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


@dataclass
class _Pair:
    split: str
    model: str
    sid: str
    inputs: list[str]
    output: str
    prompt: str
    target: list[str]


def compute_values(
    samples: pl.DataFrame,
    generations: pl.DataFrame,
    applicability: pl.DataFrame,
    settings: MetricsSettings,
    *,
    log: logging.Logger | None = None,
    face_embedder: Any = None,
    ocr_reader: Any = None,
    text_llm: Callable[[list[_Pair]], list[dict]] | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """METRIC_VALUES rows for every (model in ``generations``, sample, enabled metric), and a summary.

    ``face_embedder`` / ``ocr_reader``: prebuilt backends (else built from ``settings``).
    ``text_llm``: the VLM text reader (``text.reader: vlm``), pairs -> reply dicts.
    """
    log = log or logging.getLogger("echo_bench.metrics")
    device = resolve_device(settings.device)
    if settings.cpu_threads and int(settings.cpu_threads) > 0:
        torch.set_num_threads(int(settings.cpu_threads))
    batch = resolve_batch_size(settings.batch_size, device)
    log.info("metrics: device %s, batch size %d, metrics %s", describe(device), batch, list(settings.enabled))
    verdicts = applicable_map(applicability)
    sample_rows = {r["sample_id"]: r for r in samples.iter_rows(named=True)}
    gen_rows = {(r["model"], r["sample_id"]): r for r in generations.iter_rows(named=True)}
    models = sorted(set(generations["model"].to_list()))
    sids = sorted(sample_rows)
    images = _ImageCache()
    rows: list[dict] = []
    summary: dict[str, Any] = {"device": describe(device), "batch_size": batch, "models": models,
                               "samples": len(sids), "backends": {}}

    # Work lists per metric: pairs to compute; everything else gets its row at once.
    todo: dict[str, list[_Pair]] = {m: [] for m in settings.enabled}
    for metric in settings.enabled:
        family = FAMILY_OF[metric]
        for sid in sids:
            s = sample_rows[sid]
            v = verdicts.get((sid, family))
            for model in models:
                split = s["split"]
                needs_input = family != "text" and not (s["input_images"] or [])
                if v is None or not v["applicable"] or needs_input:
                    reason = v["reason"] if v else "no applicability verdict"
                    if needs_input and v is not None and v["applicable"]:
                        reason = f"no input image to compare with (verdict was: {reason})"
                    rows.append(_row(split, model, sid, metric, None, "not_applicable",
                                     {"reason": reason, "applicability": v["backend"] if v else None}))
                    continue
                g = gen_rows.get((model, sid))
                if g is None or g["status"] != "ok" or not g["output_image"]:
                    gs = g["status"] if g is not None else "missing"
                    detail = {"generation_status": gs, "reason": (g or {}).get("reason")}
                    rows.append(_row(split, model, sid, metric, None, "no_output", detail))
                    continue
                todo[metric].append(
                    _Pair(split, model, sid, list(s["input_images"] or []), g["output_image"], s["prompt"] or "",
                          list(v["target_text"] or []))
                )

    if "color_shift" in todo or "color_delta_e" in todo:
        rows += _color_rows(todo, settings, images, device, batch, verdicts, sample_rows, models, rows, log, summary)
    if "structure_distance" in todo:
        rows += _structure_rows(todo["structure_distance"], settings, images, device, batch, log, summary)
    if "face_identity" in todo:
        rows += _face_rows(todo["face_identity"], settings, images, face_embedder, device, log, summary)
    if "text_accuracy" in todo:
        rows += _text_rows(todo["text_accuracy"], settings, images, ocr_reader, text_llm, device, log, summary)

    df = pl.DataFrame(rows, schema=METRIC_VALUES) if rows else pl.DataFrame(schema=METRIC_VALUES)
    df = df.sort("split", "model", "sample_id", "metric")
    counts = df.group_by("metric", "status").len().sort("metric", "status")
    summary["rows"] = df.height
    summary["status_by_metric"] = {
        m: {st: n for mm, st, n in counts.iter_rows() if mm == m} for m in sorted(set(counts["metric"].to_list()))
    }
    for m, c in summary["status_by_metric"].items():
        log.info("metrics: %s: %s", m, c)
    return df, summary


def _load_pair(p: _Pair, images: _ImageCache, *, all_inputs: bool) -> tuple[list[np.ndarray], np.ndarray]:
    if not p.inputs:
        raise ValueError("sample has no input image")
    ins = [images(x) for x in (p.inputs if all_inputs else p.inputs[:1])]
    return ins, images(p.output)


def _failed(p: _Pair, metric: str, e: BaseException) -> dict:
    return _row(p.split, p.model, p.sid, metric, None, "failed", {"error": f"{type(e).__name__}: {e}"})


# --- color ---------------------------------------------------------------------------------------


def _color_rows(todo, settings, images, device, batch, verdicts, sample_rows, models, prior_rows, log, summary):
    c = settings.color
    lo, hi, lab_size = int(c["bins_lo"]), int(c["bins_hi"]), int(c["lab_size"])
    pool = str(c["input_pool"])
    if pool not in ("split", "paired"):
        raise ValueError(f"metrics.color.input_pool must be split or paired, got {pool!r}")
    out: list[dict] = []
    # union of the pairs of both color metrics (one measurement serves both)
    pairs: dict[tuple[str, str], _Pair] = {}
    for m in ("color_shift", "color_delta_e"):
        for p in todo.get(m, []):
            pairs[(p.model, p.sid)] = p
    keys = sorted(pairs)
    measured: dict[tuple[str, str], color_mod.ColorPair | BaseException] = {}
    for start in progress(range(0, len(keys), batch), log, total=math.ceil(len(keys) / batch) if keys else 0,
                          what="color batches"):
        chunk = keys[start : start + batch]
        ok_keys, ins, outs = [], [], []
        for k in chunk:
            try:
                a, b = _load_pair(pairs[k], images, all_inputs=True)
            except Exception as e:  # noqa: BLE001 - recorded as failed
                measured[k] = e
                continue
            ok_keys.append(k)
            ins.append(a)
            outs.append(b)
        if ok_keys:
            res = color_mod.measure_pairs(ins, outs, lo=lo, hi=hi, lab_size=lab_size, device=device,
                                          batch_size=batch)
            measured.update(zip(ok_keys, res, strict=True))

    # inputs of applicable samples without a usable output still count for the split-pooled inputs
    input_moments: dict[str, dict] = {}
    if "color_shift" in todo:
        for (_, sid), r in measured.items():
            if isinstance(r, color_mod.ColorPair):
                input_moments[sid] = {"in_counts": r.in_counts, "in_sums": r.in_sums,
                                      "all_in_counts": r.all_in_counts, "all_in_sums": r.all_in_sums}
        missing = [
            sid for sid, s in sample_rows.items()
            if sid not in input_moments and (verdicts.get((sid, "color")) or {}).get("applicable")
            and s["input_images"]
        ]
        for sid in missing:
            try:
                hists = color_mod.channel_histograms([images(x) for x in sample_rows[sid]["input_images"]],
                                                     device=device, batch_size=batch)
            except Exception:  # noqa: BLE001 - an unreadable input simply does not pool
                continue
            cnt, sm = color_mod.kept_moments(hists[0], lo, hi)  # the edited input: the first
            acnt, asm = color_mod.kept_moments(hists.sum(0), lo, hi)
            input_moments[sid] = {"in_counts": [int(x) for x in cnt], "in_sums": [int(x) for x in sm],
                                  "all_in_counts": [int(x) for x in acnt], "all_in_sums": [int(x) for x in asm]}
        # attach input moments to the no_output rows, so the pooled inputs can be re-derived from the table
        for r in prior_rows:
            if r["metric"] == "color_shift" and r["status"] == "no_output" and r["sample_id"] in input_moments:
                d = json.loads(r["detail"])
                d.update(input_moments[r["sample_id"]])
                r["detail"] = json.dumps(d, sort_keys=True, ensure_ascii=False)

    for metric in ("color_shift", "color_delta_e"):
        if metric not in todo:
            continue
        for p in todo[metric]:
            r = measured[(p.model, p.sid)]
            if isinstance(r, BaseException):
                out.append(_failed(p, metric, r))
            elif metric == "color_shift":
                detail = {
                    "backend": "histogram-mean-rgb",
                    "bins": [lo, hi],
                    "mean_in": r.mean_in,
                    "mean_out": r.mean_out,
                    "in_counts": r.in_counts,
                    "in_sums": r.in_sums,
                    "all_in_counts": r.all_in_counts,
                    "all_in_sums": r.all_in_sums,
                    "out_counts": r.out_counts,
                    "out_sums": r.out_sums,
                    "n_inputs": len(p.inputs),
                }
                val = r.magnitude if math.isfinite(r.magnitude) else None
                st = "ok" if val is not None else "failed"
                if val is None:
                    detail["error"] = "no pixel inside the kept bins"
                out.append(_row(p.split, p.model, p.sid, metric, val, st, detail))
            else:
                detail = {
                    "backend": "kornia-lab-ciede2000",
                    "lab_size": lab_size,
                    "lab_in": r.lab_in,
                    "lab_out": r.lab_out,
                    "delta_e_pixel": r.delta_e_pixel,
                }
                out.append(_row(p.split, p.model, p.sid, metric, r.delta_e_mean_color, "ok", detail))
    summary["backends"]["color_shift"] = "histogram-mean-rgb"
    summary["backends"]["color_delta_e"] = "kornia-lab-ciede2000"
    summary["color_input_pool"] = pool
    return out


# --- structure -----------------------------------------------------------------------------------


def _structure_rows(pairs, settings, images, device, batch, log, summary):
    from echo_bench.metrics.structure import StructureDistance

    s = settings.structure
    sd = StructureDistance(str(s["backend"]), dino_weights=s.get("dino_weights"), device=device,
                           size=int(s.get("size", 224)))
    summary["backends"]["structure_distance"] = sd.name
    log.info("metrics: structure distance with %s on %s", sd.name, device)
    out = []
    for start in progress(range(0, len(pairs), batch), log, total=math.ceil(len(pairs) / batch) if pairs else 0,
                          what="structure batches"):
        chunk = pairs[start : start + batch]
        ok, ins, outs = [], [], []
        for p in chunk:
            try:
                a, b = _load_pair(p, images, all_inputs=False)
            except Exception as e:  # noqa: BLE001
                out.append(_failed(p, "structure_distance", e))
                continue
            ok.append(p)
            ins.append(a[0])
            outs.append(b)
        if ok:
            d = sd.distances(ins, outs, batch_size=batch)
            for p, v in zip(ok, d, strict=True):
                out.append(_row(p.split, p.model, p.sid, "structure_distance", float(v), "ok",
                                {"backend": sd.name, "size": sd.size}))
    return out


# --- face ----------------------------------------------------------------------------------------


class FaceCache:
    """Faces per image path, detected once (inputs are probed for applicability and reused)."""

    def __init__(self, embedder: Any, images: Callable[[str], np.ndarray] | None = None) -> None:
        self.embedder = embedder
        self.images = images or _ImageCache()
        self._d: dict[str, list] = {}

    def __call__(self, path: str) -> list:
        if path not in self._d:
            self._d[path] = self.embedder.faces(self.images(path))
        return self._d[path]

    def any_face(self, paths: Sequence[str]) -> bool | None:
        """Whether one of ``paths`` shows a face (None if none could be read)."""
        seen = False
        for p in paths:
            try:
                if self(p):
                    return True
                seen = True
            except Exception:  # noqa: BLE001 - unreadable: decided by the prompt alone
                continue
        return False if seen else None


def make_face_cache(settings: MetricsSettings, device: torch.device) -> FaceCache:
    from echo_bench.metrics.face import make_face_embedder

    f = settings.face
    emb = make_face_embedder(
        str(f["backend"]), detector=str(f.get("detector", "hog")), det_size=f.get("det_size"),
        upsample=int(f.get("upsample", 1)), model_dir=f.get("model_dir"),
        dlib_models_dir=f.get("dlib_models_dir"), use_gpu=device.type == "cuda",
    )
    return FaceCache(emb)


def _face_rows(pairs, settings, images, face_cache, device, log, summary):
    from echo_bench.metrics.face import match_faces

    cache = face_cache if isinstance(face_cache, FaceCache) else (
        FaceCache(face_cache, images) if face_cache is not None else make_face_cache(settings, device)
    )
    name = cache.embedder.name
    summary["backends"]["face_identity"] = name
    thr = settings.face.get("same_person_distance")
    out = []
    for p in progress(pairs, log, total=len(pairs), what="face pairs"):
        try:
            if not p.inputs:
                raise ValueError("sample has no input image")
            faces_in = [f for x in p.inputs for f in cache(x)]
            faces_out = cache(p.output)
        except Exception as e:  # noqa: BLE001
            out.append(_failed(p, "face_identity", e))
            continue
        m = match_faces(faces_in, faces_out)
        detail = {"backend": name, **m.detail(), "face_lost": False}
        value, status = m.similarity, m.status
        if m.n_in and not m.n_out:  # the input shows a face, the output none: the identity was lost
            value, status = LOST_FACE_SIMILARITY, "ok"
            detail["face_lost"] = True
        elif m.status == "ok" and thr is not None and name.startswith("dlib"):
            detail["same_person"] = bool(m.distance is not None and m.distance < float(thr))
        if detail["face_lost"] and name.startswith("dlib"):
            detail["same_person"] = False
        out.append(_row(p.split, p.model, p.sid, "face_identity", value, status, detail))
    return out


# --- text ----------------------------------------------------------------------------------------


def make_ocr_reader(settings: MetricsSettings, device: torch.device):
    from echo_bench.metrics.text import OcrReader

    use_gpu = False
    if device.type == "cuda":
        import onnxruntime

        use_gpu = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    return OcrReader(min_score=float(settings.text.get("min_ocr_score", 0.5)), use_gpu=use_gpu)


def _text_rows(pairs, settings, images, ocr_reader, text_llm, device, log, summary):
    from echo_bench.metrics.text import quoted_spans, score_all

    t = settings.text
    reader = str(t.get("reader", "ocr"))
    max_ed = {"en": int(t.get("max_ed_en", 100)), "zh": int(t.get("max_ed_zh", 50))}
    out = []
    if reader == "vlm":
        if text_llm is None:
            raise ValueError("metrics.text.reader is vlm but no VLM text reader was given")
        replies = text_llm(pairs)
        summary["backends"]["text_accuracy"] = "vlm"
        for p, rep in zip(pairs, replies, strict=True):
            if not rep.get("ok"):
                out.append(_row(p.split, p.model, p.sid, "text_accuracy", None, "failed",
                                {"error": rep.get("error"), "backend": rep.get("backend")}))
                continue
            data = rep["data"]
            try:
                scores = score_all(p.target, [data["rendered_text"]], quoted=quoted_spans(p.prompt), max_ed=max_ed)
            except ValueError as e:
                out.append(_failed(p, "text_accuracy", e))
                continue
            # the score is always computed from a transcription; the VLM's own accuracy claim is kept aside
            detail = {"backend": rep.get("backend"), "reader": "vlm", "target": p.target,
                      "read_lines": [data["rendered_text"]], "vlm_reason": data.get("reason"),
                      "vlm_accuracy_claim": data.get("accuracy"), **scores}
            out.append(_row(p.split, p.model, p.sid, "text_accuracy", scores["char_accuracy"], "ok", detail))
        return out
    if reader != "ocr":
        raise ValueError(f"metrics.text.reader must be ocr or vlm, got {reader!r}")
    ocr = ocr_reader or make_ocr_reader(settings, device)
    summary["backends"]["text_accuracy"] = ocr.name
    for p in progress(pairs, log, total=len(pairs), what="OCR images"):
        try:
            lines = ocr.read(images(p.output))
        except Exception as e:  # noqa: BLE001
            out.append(_failed(p, "text_accuracy", e))
            continue
        try:
            scores = score_all(p.target, [x.text for x in lines], quoted=quoted_spans(p.prompt), max_ed=max_ed)
        except ValueError as e:  # e.g. the requested text is only punctuation
            out.append(_failed(p, "text_accuracy", e))
            continue
        detail = {"backend": ocr.name, "reader": "ocr", "target": p.target,
                  "read_lines": [x.text for x in lines], "read_scores": [round(x.score, 4) for x in lines],
                  **scores}
        out.append(_row(p.split, p.model, p.sid, "text_accuracy", scores["char_accuracy"], "ok", detail))
    return out


def vlm_text_reader(cfg: Mapping[str, Any], *, cache_dir: str, prices: Mapping[str, Any] | None,
                    ocr_factory: Callable[[], Any], log: logging.Logger,
                    max_failed_share: float | None = None) -> Callable[[list[_Pair]], list[dict]]:
    """The VLM text reader: template ``text_judge`` through :mod:`echo_bench.llm`.

    ``max_failed_share`` (``metrics.text.max_failed_share``) is its failure policy
    (docs/llm.md): beyond it, or on a failed preflight, ``LLMStageError``.

    Its offline heuristic transcribes with the OCR and scores 1 - CER, labelled offline.
    """
    from echo_bench.llm import LLMRequest, make_client, reply_schema
    from echo_bench.metrics.text import ensure_text_judge_template, score_all

    template = ensure_text_judge_template()
    state: dict[str, Any] = {}
    by_key: dict[str, _Pair] = {}

    def offline(req: Any) -> dict:
        if "ocr" not in state:
            state["ocr"] = ocr_factory()
        p = by_key[req.key]
        lines = [x.text for x in state["ocr"].read(load_rgb(p.output))]
        acc = score_all(p.target, lines)["char_accuracy"]
        return {"rendered_text": " ".join(lines), "accuracy": acc, "reason": "offline: OCR transcription, 1 - CER"}

    client = make_client(cfg, cache_dir=cache_dir, offline=offline, prices=prices, log=log,
                         stage="metrics.text", max_failed_share=max_failed_share)
    schema = reply_schema(template)

    def run(pairs: list[_Pair]) -> list[dict]:
        reqs = []
        for p in pairs:
            key = f"{p.model}/{p.sid}"
            by_key[key] = p
            reqs.append(LLMRequest(template, {"prompt": p.prompt, "target_text": "\n".join(p.target)},
                                   images=(p.output,), json_schema=schema, key=key))
        return [
            {"ok": r.ok, "data": r.data, "error": r.error, "backend": f"{r.backend}/{r.model}"}
            for r in client.run(reqs)
        ]

    return run


# --- the per-model table -------------------------------------------------------------------------


def _bootstrap(values: np.ndarray, n: int, rng: np.random.Generator, stat: Callable[[np.ndarray], float]
               ) -> tuple[float | None, float | None]:
    if n <= 0 or values.size < 2:
        return None, None
    idx = rng.integers(0, values.size, size=(n, values.size))
    stats = np.array([stat(i) for i in idx])
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return None, None
    return float(np.quantile(stats, 0.025)), float(np.quantile(stats, 0.975))


def aggregate(values: pl.DataFrame, *, input_pool: str = "split", bootstrap: int = 1000, seed: int = 0
              ) -> pl.DataFrame:
    """The per-model TABLE from METRIC_VALUES rows (re-derivable from the values alone).

    ``color_shift``'s value is the paper's pooled number (inputs pooled over every
    applicable sample of the split with ``input_pool: split``, over the model's own
    ok samples with ``paired``); the other metrics' value is the mean over ok samples.
    Bootstrap CIs resample samples (seeded).
    """
    rows = []
    if values.height == 0:
        return pl.DataFrame(schema=TABLE)
    for (split, model, metric), g in values.sort("sample_id").group_by(
        ["split", "model", "metric"], maintain_order=True
    ):
        rng = np.random.default_rng([seed, *(ord(ch) for ch in f"{split}/{model}/{metric}")])
        status = g["status"].to_list()
        ok = g.filter(pl.col("status") == "ok")
        vals = ok["value"].to_numpy().astype(np.float64)
        details = [json.loads(d) for d in ok["detail"].to_list()]
        backend = details[0].get("backend") if details else None
        extras: dict[str, Any] = {}
        value = float(vals.mean()) if vals.size else None
        ci = _bootstrap(vals, bootstrap, rng, lambda i: float(vals[i].mean()))
        if metric == "color_shift":
            value, ci, extras = _pooled_color(split, values, g, details, input_pool, bootstrap, rng)
        elif metric == "color_delta_e" and details:
            lab_in = np.array([d["lab_in"] for d in details])
            lab_out = np.array([d["lab_out"] for d in details])
            de = color_mod.ciede2000(torch.from_numpy(lab_in.mean(0)), torch.from_numpy(lab_out.mean(0)), dim=-1)
            extras = {"delta_e_of_pooled_mean_lab": float(de), "delta_e_pixel_mean":
                      float(np.mean([d["delta_e_pixel"] for d in details]))}
        elif metric == "face_identity" and details:
            extras = _face_extras(details, vals, bootstrap, rng)
        elif metric == "text_accuracy" and details:
            extras = _text_extras(details)
        n_app = sum(s != "not_applicable" for s in status)
        rows.append(
            {
                "split": split,
                "model": model,
                "metric": metric,
                "backend": backend,
                "value": value,
                "mean": float(vals.mean()) if vals.size else None,
                "std": float(vals.std(ddof=1)) if vals.size > 1 else None,
                "ci_low": ci[0],
                "ci_high": ci[1],
                "higher_is_better": HIGHER_IS_BETTER.get(metric),
                "n_rows": len(status),
                "n_applicable": n_app,
                "n_ok": status.count("ok"),
                "n_not_applicable": status.count("not_applicable"),
                "n_no_face": status.count("no_face"),
                "n_no_output": status.count("no_output"),
                "n_failed": status.count("failed"),
                "extras": json.dumps(extras, sort_keys=True, default=_json_default),
            }
        )
    return pl.DataFrame(rows, schema=TABLE).sort("split", "metric", "model")


#: The named variants of the pooled colour shift (docs/metrics.md): which samples pool on the input
#: side (``split``: every colour-applicable sample of the split; ``paired``: the model's ok samples)
#: and which input images of a sample (the edited one, the first; or ``all_inputs``).
COLOR_VARIANTS = ("split", "paired", "split_all_inputs", "paired_all_inputs")


def _color_moments(split: str, values: pl.DataFrame, details: list[dict], sids: list[str]) -> dict[str, Any]:
    """Per-sample moments of the split's colour rows: ``{sid: (in, all_in, out | None)}`` pairs of counts, sums."""
    per_sample: dict[str, dict] = {}
    allrows = values.filter((pl.col("split") == split) & (pl.col("metric") == "color_shift"))
    for sid, det in allrows.select("sample_id", "detail").sort("sample_id").iter_rows():
        d = json.loads(det)
        if "in_counts" in d and sid not in per_sample:
            per_sample[sid] = {"in": (d["in_counts"], d["in_sums"]),
                               "all_in": (d.get("all_in_counts", d["in_counts"]),
                                          d.get("all_in_sums", d["in_sums"]))}
    for sid, d in zip(sids, details, strict=True):
        per_sample.setdefault(sid, {"in": (d["in_counts"], d["in_sums"]),
                                    "all_in": (d.get("all_in_counts", d["in_counts"]),
                                               d.get("all_in_sums", d["in_sums"]))})
        per_sample[sid]["out"] = (d["out_counts"], d["out_sums"])
    return per_sample


def _color_arrays(per_sample: dict[str, dict], keys: list[str], side: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) counts and sums of ``side`` (``in``, ``all_in``, ``out``) over ``keys``; zeros where absent."""
    c = np.zeros((len(keys), 3), dtype=np.int64)
    s = np.zeros((len(keys), 3), dtype=np.int64)
    for n, k in enumerate(keys):
        if side in per_sample[k]:
            c[n], s[n] = per_sample[k][side]
    return c, s


def _pooled_color(split, values, g, details, input_pool, bootstrap, rng):
    """The pooled colour shift of one model: the headline (``input_pool``), its named variants,
    and a bootstrap interval that resamples whole samples (input and output sides recomputed
    from the same draw)."""
    if not details:
        return None, (None, None), {}
    if input_pool not in ("split", "paired"):
        raise ValueError(f"metrics.color.input_pool must be split or paired, got {input_pool!r}")
    sids = g.filter(pl.col("status") == "ok")["sample_id"].to_list()
    per_sample = _color_moments(split, values, details, sids)
    universe = {"split": sorted(per_sample), "paired": sorted(sids)}
    variants: dict[str, dict] = {}
    arrays: dict[str, tuple] = {}
    for name in COLOR_VARIANTS:
        pool, side = name.split("_", 1)[0], ("all_in" if name.endswith("_all_inputs") else "in")
        keys = universe[pool]
        in_c, in_s = _color_arrays(per_sample, keys, side)
        out_c, out_s = _color_arrays(per_sample, keys, "out")
        res = color_mod.pooled_color_shift(in_c, in_s, out_c, out_s)
        arrays[name] = (in_c, in_s, out_c, out_s)
        variants[name] = {"value": res.magnitude, "mean_rgb_in": list(res.mean_in),
                          "mean_rgb_out": list(res.mean_out), "n_samples": len(keys)}
    in_c, in_s, out_c, out_s = arrays[input_pool]

    def stat(i: np.ndarray) -> float:
        m_in = color_mod.mean_rgb_from_moments(in_c[i].sum(0), in_s[i].sum(0))
        m_out = color_mod.mean_rgb_from_moments(out_c[i].sum(0), out_s[i].sum(0))
        return color_mod.color_shift_magnitude(m_in, m_out)

    ci = _bootstrap(np.arange(in_c.shape[0]), bootstrap, rng, stat)
    head = variants[input_pool]
    extras = {"mean_rgb_in": head["mean_rgb_in"], "mean_rgb_out": head["mean_rgb_out"], "input_pool": input_pool,
              "input_image": "first (the edited input)", "n_inputs_pooled": head["n_samples"],
              "n_outputs_pooled": len(sids), "variants": variants}
    return head["value"], ci, extras


def _face_extras(details: list[dict], vals: np.ndarray, bootstrap: int, rng: np.random.Generator) -> dict:
    """Face kept rate, the faces-found-only mean (a variant) and dlib's distance figures."""
    lost = np.array([bool(d.get("face_lost")) for d in details])
    found = vals[~lost]
    dist = [d["distance"] for d in details if d.get("distance") is not None]
    extras: dict[str, Any] = {
        "face_kept_rate": float(1.0 - lost.mean()),
        "n_face_lost": int(lost.sum()),
        "lost_face_value": LOST_FACE_SIMILARITY,
        "similarity_faces_found": float(found.mean()) if found.size else None,
        "distance_mean": float(np.mean(dist)) if dist else None,
    }
    lo, hi = _bootstrap(found, bootstrap, rng, lambda i: float(found[i].mean()))
    extras["similarity_faces_found_ci"] = [lo, hi]
    same = [d["same_person"] for d in details if "same_person" in d]
    if same:
        extras["same_person_rate"] = float(np.mean(same))
    return extras


def _text_extras(details: list[dict]) -> dict:
    from echo_bench.metrics.text import oneig_model_score

    def mean(key, sub=None):
        xs = [(d[sub] or {}).get(key) if sub else d.get(key) for d in details]
        xs = [x for x in xs if x is not None]
        return float(np.mean(xs)) if xs else None

    by_lang: dict[str, list[dict]] = {}
    for d in details:
        if d.get("oneig") and "matched" in d["oneig"]:
            by_lang.setdefault(d["oneig"]["lang"], []).append(d["oneig"])
    oneig = {lang: oneig_model_score(rs) for lang, rs in sorted(by_lang.items())}
    # one language: its model-level figures are the headline; mixed: per language only
    head = next(iter(oneig.values())) if len(oneig) == 1 else {}
    return {
        "char_accuracy_full": mean("char_accuracy_full"),
        "word_precision": mean("word_precision"),
        "word_recall": mean("word_recall"),
        "completion": mean("completion"),
        "oneig_score": head.get("score"),
        "oneig_ed": head.get("ed"),
        "oneig_cr": head.get("cr"),
        "oneig_wac": head.get("wac"),
        "oneig_by_lang": oneig,
        "oneig_score_per_image_mean": mean("score", "oneig"),
        "mario_precision": mean("precision", "mario"),
        "mario_recall": mean("recall", "mario"),
        "mario_f": mean("f", "mario"),
        "mario_accuracy": mean("accuracy", "mario"),
        "mario_n": sum(1 for d in details if d.get("mario")),
    }
