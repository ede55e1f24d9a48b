"""The community-driven metrics (paper section 8): color shift, face identity,
structure distance, text rendering accuracy; and which of them apply to a sample.

Modules (see docs/metrics.md):

- :mod:`~echo_bench.metrics.applicability` -- offline rules or an LLM decide per sample and metric;
- :mod:`~echo_bench.metrics.color` -- the paper's pooled color shift magnitude; CIEDE2000 variant;
- :mod:`~echo_bench.metrics.face` -- face identity (dlib ResNet offline; insightface/AuraFace option);
- :mod:`~echo_bench.metrics.structure` -- structure distance (weight-free patch self-similarity
  offline; DINO ViT-S/16 keys from a local checkpoint);
- :mod:`~echo_bench.metrics.text` -- requested text, OCR (rapidocr), our scores, OneIG-Bench, MARIO-Eval;
- :mod:`~echo_bench.metrics.device` -- device and batch size;
- :mod:`~echo_bench.metrics.runner` -- the rows of METRIC_VALUES and the per-model table;
- :mod:`~echo_bench.metrics.controls` -- procedural known-answer controls.

Heavy backends (dlib, rapidocr, insightface) load on first use.
"""

from echo_bench.metrics.applicability import APPLICABILITY, FAMILY_OF, decide, offline_applicability
from echo_bench.metrics.color import (
    channel_histograms,
    ciede2000,
    color_shift_magnitude,
    measure_pairs,
    pooled_color_shift,
    pooled_color_shift_from_hists,
)
from echo_bench.metrics.device import resolve_batch_size, resolve_device
from echo_bench.metrics.runner import METRICS, TABLE, MetricsSettings, aggregate, compute_values
from echo_bench.metrics.structure import DinoViTS16, StructureDistance, load_dino_vits16
from echo_bench.metrics.text import extract_requested_text, mario_scores, oneig_score, score_all, text_scores

__all__ = [
    "APPLICABILITY",
    "FAMILY_OF",
    "METRICS",
    "TABLE",
    "DinoViTS16",
    "MetricsSettings",
    "StructureDistance",
    "aggregate",
    "channel_histograms",
    "ciede2000",
    "color_shift_magnitude",
    "compute_values",
    "decide",
    "extract_requested_text",
    "load_dino_vits16",
    "mario_scores",
    "measure_pairs",
    "offline_applicability",
    "oneig_score",
    "pooled_color_shift",
    "pooled_color_shift_from_hists",
    "resolve_batch_size",
    "resolve_device",
    "score_all",
    "text_scores",
]
