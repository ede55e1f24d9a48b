"""The offline judge: a 1-10 rating from measurable signals only, no model called.

It plays a judge's part in an offline run (``backend: offline``): it receives the
same :class:`echo_bench.llm.LLMRequest` as a VLM judge (instruction, input images,
output image last) and returns a reply that ends with ``Rating: [[N]]``, parsed by
the same strict parser.  Its reply says that it is the offline heuristic judge and
lists every signal, its value, where it came from, and how it entered the rating.

Signals (names as in METRIC_VALUES where they come from the metrics table)
---------------------------------------------------------------------------
Taken from the metrics table when the stage is given one (``status == "ok"``):
``text_accuracy``, ``face_identity``, ``structure_distance``, ``color_shift``.
Computed cheaply from the pixels when the table has no value for them:

* ``color_shift`` (edits): Euclidean distance between the mean RGB of the input
  images and of the output, each from 256-bin per-channel histograms keeping bins
  5..250 (the reference definition of the color-shift metric, per image);
* ``edge_similarity`` (edits, in place of ``structure_distance``): Pearson
  correlation, clipped to [0, 1], of the Sobel gradient magnitudes of the
  grayscale input and output resized to ``image_size`` squared (best input);
* ``pixel_difference`` (edits): mean absolute RGB difference (0-255) between the
  resized input and output (best input);
* ``text_accuracy`` (any task, when ``ocr`` is on and the prompt requests text):
  share of the requested words (:func:`echo_bench.text_requests.requested_text`,
  lower case, letters and digits) found by OCR (rapidocr) in the output.

The formula
-----------
Each available signal ``s`` with value ``v`` becomes a quality ``q`` in [0, 1]:
``better: higher`` -> ``q = clip(v / ref, 0, 1)``; ``better: lower`` ->
``q = exp(-max(v, 0) / scale)``; ``better: calibrated`` (``face_identity``) ->
``q = clip((v - different) / (same - different), 0, 1)`` with the calibration
of the face backend the table row came from (``face_calibration``: dlib reads
its Euclidean distance, carried as ``face_distance``; insightface its cosine).

What it reads: with the metrics table given, four of its signals are the
table's numbers, so offline win rates of the controls restate the metrics
(docs/judging.md); the pixel signals alone are the check of the judging path
that does not go through the table.  The quality of the output is the weighted mean
``Q = sum(w_s q_s) / sum(w_s)`` and the rating is ``1 + floor(9 Q + 0.5)``.  An
output that cannot be read, or that is blank (grayscale std < 2), gets 1.  With
no signal at all (a text-to-image prompt without quoted text and no metrics) the
rating is a neutral 5, and the reply says so.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from echo_bench.text_requests import requested_text

PRODUCER = "offline-heuristic-judge"

#: Used by tests and the benchmark; the pipeline passes ``judge.offline`` from params.yaml.
EXAMPLE_CONFIG: dict[str, Any] = {
    "image_size": 64,
    "ocr": False,
    "face_calibration": {
        "dlib": {"measure": "distance", "same": 0.0, "different": 0.6},
        "insightface": {"measure": "cosine", "same": 1.0, "different": 0.3},
    },
    "signals": {
        "text_accuracy": {"weight": 2.0, "better": "higher", "ref": 1.0},
        "face_identity": {"weight": 1.0, "better": "calibrated"},
        "structure_distance": {"weight": 1.0, "better": "lower", "scale": 0.1},
        "color_shift": {"weight": 1.0, "better": "lower", "scale": 25.0},
        "edge_similarity": {"weight": 1.0, "better": "higher", "ref": 1.0},
        "pixel_difference": {"weight": 0.5, "better": "lower", "scale": 30.0},
    },
}

TABLE_SIGNALS = ("text_accuracy", "face_identity", "structure_distance", "color_shift")
#: Carried beside ``face_identity`` for a dlib row: dlib's Euclidean descriptor distance.
FACE_DISTANCE = "face_distance"
#: The distance given to an output that lost the input's face (dlib): far beyond the same-person 0.6.
LOST_FACE_DISTANCE = 2.0
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Signal:
    name: str
    value: float
    source: str  # "metrics table" | "pixels" | "ocr"
    calibration: str | None = None  # face_identity: the face backend whose calibration applies


def face_calibration(table: Mapping[str, float], config: Mapping[str, Any]) -> tuple[str, float] | None:
    """The face backend whose calibration applies, and the value it reads, from the table's signals.

    A dlib row carries its Euclidean distance (``face_distance``): the ``dlib``
    calibration reads that; a row with a cosine only (insightface / AuraFace,
    an ArcFace-style model) takes the ``insightface`` calibration.
    """
    cals = config.get("face_calibration") or {}
    if table.get(FACE_DISTANCE) is not None and "dlib" in cals:
        return "dlib", float(table[FACE_DISTANCE])
    if table.get("face_identity") is not None and "insightface" in cals:
        return "insightface", float(table["face_identity"])
    return None


def calibrated_quality(value: float, cal: Mapping[str, Any]) -> float:
    """Linear from the backend's typical different-person value (q = 0) to its same-image value (q = 1)."""
    same, diff = float(cal["same"]), float(cal["different"])
    if same == diff:
        raise ValueError(f"face calibration needs same != different, got {same} and {diff}")
    return min(max((value - diff) / (same - diff), 0.0), 1.0)


def load_rgb(path: str, size: int) -> np.ndarray:
    """(size, size, 3) float RGB thumbnail in 0-255 (bilinear, deterministic)."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.float64)


def mean_rgb(images: Sequence[np.ndarray]) -> np.ndarray:
    """Mean intensity per channel of pooled 256-bin histograms, bins 5..250 only."""
    hist = np.zeros((3, 256))
    for im in images:
        v = np.clip(np.rint(im), 0, 255).astype(np.int64).reshape(-1, 3)
        for c in range(3):
            hist[c] += np.bincount(v[:, c], minlength=256)
    bins = np.arange(256, dtype=float)
    keep = (bins >= 5) & (bins <= 250)
    h = hist[:, keep]
    tot = h.sum(axis=1)
    return np.where(tot > 0, (h * bins[keep]).sum(axis=1) / np.where(tot > 0, tot, 1), np.nan)


def _sobel_magnitude(gray: np.ndarray) -> np.ndarray:
    g = np.pad(gray, 1, mode="edge")
    gx = (g[:-2, 2:] + 2 * g[1:-1, 2:] + g[2:, 2:]) - (g[:-2, :-2] + 2 * g[1:-1, :-2] + g[2:, :-2])
    gy = (g[2:, :-2] + 2 * g[2:, 1:-1] + g[2:, 2:]) - (g[:-2, :-2] + 2 * g[:-2, 1:-1] + g[:-2, 2:])
    return np.hypot(gx, gy)


def _gray(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def edge_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of Sobel magnitudes of two RGB thumbnails, clipped to [0, 1]."""
    ea, eb = _sobel_magnitude(_gray(a)).ravel(), _sobel_magnitude(_gray(b)).ravel()
    sa, sb = ea.std(), eb.std()
    if sa < 1e-9 or sb < 1e-9:
        return 0.0
    r = float(np.mean((ea - ea.mean()) * (eb - eb.mean())) / (sa * sb))
    return min(max(r, 0.0), 1.0)


def requested_words(prompt: str) -> list[str]:
    """Lower-cased words of the prompt's requested text (:func:`echo_bench.text_requests.requested_text`)."""
    return [w.lower() for s in requested_text(prompt or "") for w in _WORD.findall(s)]


def word_recall(requested: Sequence[str], found_text: str) -> float:
    """Share of requested words (as a multiset) present among the OCR'd words."""
    if not requested:
        return float("nan")
    found = Counter(w.lower() for w in _WORD.findall(found_text or ""))
    need = Counter(requested)
    hit = sum(min(n, found[w]) for w, n in need.items())
    return hit / sum(need.values())


_OCR_ENGINE: Any = None


def ocr_text(path: str) -> str:
    """Text found in an image by rapidocr (PP-OCR ONNX models shipped in the wheel)."""
    global _OCR_ENGINE
    if _OCR_ENGINE is None:
        from rapidocr import RapidOCR

        _OCR_ENGINE = RapidOCR()
    res = _OCR_ENGINE(path)
    txts = getattr(res, "txts", None) or ()
    return " ".join(str(t) for t in txts)


def quality(name: str, value: float, spec: Mapping[str, Any], calibration: Mapping[str, Any] | None = None) -> float:
    """The [0, 1] quality of a signal value (formula in the module doc)."""
    if spec["better"] == "calibrated":
        if calibration is None:
            raise ValueError(f"signal {name}: 'better: calibrated' needs a calibration (judge.offline.face_calibration)")
        return calibrated_quality(value, calibration)
    if spec["better"] == "higher":
        return min(max(value / float(spec["ref"]), 0.0), 1.0)
    if spec["better"] == "lower":
        return math.exp(-max(value, 0.0) / float(spec["scale"]))
    raise ValueError(f"signal {name}: 'better' must be higher, lower or calibrated, not {spec['better']!r}")


def measure(
    output_image: str,
    input_images: Sequence[str],
    instruction: str,
    table: Mapping[str, float],
    config: Mapping[str, Any],
) -> tuple[list[Signal], list[str]]:
    """The signals of one output, and notes (what could not be measured and why).

    Raises ``ValueError`` when the output cannot be read or is blank.
    """
    size = int(config["image_size"])
    wanted = config["signals"]
    notes: list[str] = []
    signals: list[Signal] = []
    try:
        out = load_rgb(output_image, size)
    except Exception as e:  # noqa: BLE001 - any decoding error means an unreadable output
        raise ValueError(f"output image unreadable: {type(e).__name__}: {e}") from e
    if _gray(out).std() < 2.0:
        raise ValueError("output image is blank (grayscale std < 2)")
    for name in TABLE_SIGNALS:
        v = table.get(name)
        if name in wanted and v is not None and not (isinstance(v, float) and math.isnan(v)):
            if name == "face_identity" and wanted[name]["better"] == "calibrated":
                cal = face_calibration(table, config)
                if cal is None:
                    notes.append("face_identity has no calibration for its backend (judge.offline.face_calibration): "
                                 "not used")
                    continue
                signals.append(Signal(name, cal[1], "metrics table", calibration=cal[0]))
                continue
            signals.append(Signal(name, float(v), "metrics table"))
    have = {s.name for s in signals}
    for name in sorted(set(table) - set(TABLE_SIGNALS) - set(wanted) - {FACE_DISTANCE}):
        notes.append(f"metrics-table value {name} has no entry in judge.offline.signals: not used")
    inputs = []
    for p in input_images:
        try:
            inputs.append(load_rgb(p, size))
        except Exception as e:  # noqa: BLE001
            notes.append(f"input image {p} unreadable ({type(e).__name__}): not used")
    if inputs:
        if "color_shift" in wanted and "color_shift" not in have:
            d = float(np.linalg.norm(mean_rgb(inputs) - mean_rgb([out])))
            if not math.isnan(d):
                signals.append(Signal("color_shift", d, "pixels"))
        if "edge_similarity" in wanted and "structure_distance" not in have:
            signals.append(Signal("edge_similarity", max(edge_similarity(i, out) for i in inputs), "pixels"))
        if "pixel_difference" in wanted:
            signals.append(Signal("pixel_difference", min(float(np.abs(i - out).mean()) for i in inputs), "pixels"))
    elif input_images:
        notes.append("no readable input image: preservation signals not measured")
    if "text_accuracy" in wanted and "text_accuracy" not in have:
        words = requested_words(instruction)
        if words and config.get("ocr"):
            try:
                signals.append(Signal("text_accuracy", word_recall(words, ocr_text(output_image)), "ocr"))
            except Exception as e:  # noqa: BLE001 - OCR is optional
                notes.append(f"OCR unavailable ({type(e).__name__}: {e}): text accuracy not measured")
        elif words:
            notes.append("prompt asks for text but OCR is off (judge.offline.ocr) and the metrics table has no value")
    return sorted(signals, key=lambda s: s.name), notes


def rate(signals: Sequence[Signal], config: Mapping[str, Any]) -> tuple[int, float | None, list[str]]:
    """(rating, Q, lines explaining each term) from the signals (formula in the module doc)."""
    specs = config["signals"]
    lines, num, den = [], 0.0, 0.0
    for s in signals:
        spec = specs[s.name]
        w = float(spec["weight"])
        cal = (config.get("face_calibration") or {}).get(s.calibration) if s.calibration else None
        q = quality(s.name, s.value, spec, cal)
        if cal is not None:
            how = (f"{s.calibration} {cal['measure']}: q = clip((v - {cal['different']}) / "
                   f"({cal['same']} - {cal['different']}), 0, 1)")
        elif spec["better"] == "higher":
            how = f"q = clip(v / {spec['ref']}, 0, 1)"
        else:
            how = f"q = exp(-v / {spec['scale']})"
        lines.append(f"- {s.name} = {s.value:.4f} [{s.source}]; {how} = {q:.3f}; weight {w:g}")
        num += w * q
        den += w
    if den <= 0:
        return 5, None, lines
    Q = num / den
    return 1 + int(math.floor(9.0 * Q + 0.5)), Q, lines


def judge_reply(
    output_image: str,
    input_images: Sequence[str],
    instruction: str,
    table: Mapping[str, float],
    config: Mapping[str, Any],
) -> str:
    """The offline judge's verbatim reply for one output, ending with ``Rating: [[N]]``."""
    head = [
        f"Offline heuristic judge ({PRODUCER}; backend offline): no model was called.",
        "The rating is computed from measurable signals only, by the formula of docs/judging.md.",
    ]
    try:
        signals, notes = measure(output_image, input_images, instruction, table, config)
    except ValueError as e:
        return "\n".join([*head, f"Output not gradable: {e}.", "Rating: [[1]]"])
    rating, Q, lines = rate(signals, config)
    body = ["Signals:", *lines] if lines else ["Signals: none measurable for this item."]
    body += [f"Note: {n}." for n in notes]
    if Q is None:
        body.append("No signal: neutral rating 5.")
    else:
        body.append(f"Quality Q = sum(w q) / sum(w) = {Q:.4f}; rating = 1 + floor(9 Q + 0.5) = {rating}.")
    return "\n".join([*head, *body, f"Rating: [[{rating}]]"])


class OfflineJudge:
    """The callable the LLM client's offline backend calls: ``LLMRequest -> reply text``."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        cals = config.get("face_calibration") or {}
        for backend, cal in cals.items():
            if cal.get("measure") not in ("distance", "cosine"):
                raise ValueError(f"judge.offline.face_calibration.{backend}.measure must be distance or cosine")
            calibrated_quality(0.5, cal)  # validates same/different early
        for name, spec in config["signals"].items():
            if spec.get("better") == "calibrated" and not cals:
                raise ValueError(f"judge.offline.signals.{name} is calibrated but judge.offline.face_calibration "
                                 "is empty")
            quality(name, 0.5, spec, next(iter(cals.values()), None))  # validates the spec early

    def __call__(self, request: Any) -> str:
        images = tuple(request.images)
        if not images:
            return "Offline heuristic judge: the request has no output image.\nOutput not gradable."
        variables = dict(request.variables)
        n_inputs = int(variables.get("n_input_images", variables.get("n_inputs", len(images) - 1)))
        table = {k: v for k, v in dict(variables.get("_signals") or {}).items() if v is not None}
        return judge_reply(images[-1], images[:n_inputs], str(variables.get("instruction", "")), table, self.config)


def table_signals(metric_values: Any, split: str | None = None) -> dict[tuple[str, str], dict[str, float]]:
    """``{(sample_id, model): {metric: value}}`` from a METRIC_VALUES frame (status ok, value set)."""
    import polars as pl

    df = metric_values.filter((pl.col("status") == "ok") & pl.col("value").is_not_null() & pl.col("value").is_not_nan())
    if split is not None:
        df = df.filter(pl.col("split") == split)
    out: dict[tuple[str, str], dict[str, float]] = {}
    for sid, model, metric, value, detail in df.select("sample_id", "model", "metric", "value", "detail").sort(
        "sample_id", "model", "metric"
    ).iter_rows():
        sig = out.setdefault((sid, model), {})
        sig[metric] = float(value)
        if metric == "face_identity":
            d = json.loads(detail or "{}")
            if str(d.get("backend", "")).startswith("dlib"):
                if d.get("face_lost"):
                    sig[FACE_DISTANCE] = LOST_FACE_DISTANCE
                elif d.get("distance") is not None:
                    sig[FACE_DISTANCE] = float(d["distance"])
    return out
