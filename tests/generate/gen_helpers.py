"""Helpers of the generation tests: media store, sample rows, the generate params used by the tests."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from PIL import Image

from echo_bench.schemas import SAMPLES


def store_media(root: Path, img: np.ndarray, fmt: str = "JPEG") -> str:
    """Write ``img`` content-addressed under root/data/media; the repo-relative path."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
    rel = f"data/media/{sha}.{ext}"
    (root / "data/media").mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(data)
    return rel


def sample_row(sample_id: str, split: str, prompt: str, inputs: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "sample_id": sample_id,
        "split": split,
        "thread_id": f"t{sample_id}",
        "created_at": datetime(2025, 3, 26, tzinfo=timezone.utc),
        "lang": "en",
        "prompt": prompt,
        "prompt_modified": False,
        "task_type": "edit" if inputs else "text_to_image",
        "input_images": list(inputs),
        "reference_outputs": [],
        "quality": "Benchmark",
        "label": "Benchmark",
        "feedback": [],
        "producer": "test",
    }


def samples_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SAMPLES)


T2I_PROMPTS = {
    "t2i_000": 'A vintage poster with the headline "GRAND OPENING" in bold letters',
    "t2i_001": "A watercolor fox sleeping under a maple tree at dusk",
    "t2i_002": 'A coffee mug that says "Best Dad Ever" on a wooden table',
}


GENERATE_PARAMS: dict[str, Any] = {
    "seed": 20250325,
    "image": {"max_side": 1024, "resample": "lanczos", "compress_level": 6},
    "call": {"timeout_s": 60, "max_retries": 0, "concurrency": 2},
    "controls": {"canvas_size": [256, 256], "canvas_color": [235, 235, 235], "text_color": [20, 20, 20]},
    "models": {
        "identity": {"backend": "control", "control": "identity"},
        "color_cast": {"backend": "control", "control": "color_cast", "delta_lab": [0, 0, 20]},
        "scramble": {"backend": "control", "control": "scramble", "block": 32},
        "typo": {"backend": "control", "control": "typo", "cer": 0.2},
        "face_swap": {"backend": "control", "control": "face_swap"},
    },
}


def stage_params(split: str, model: str, generate: dict[str, Any] | None = None):
    from echo_bench.params import StageParams

    return StageParams({"generate": generate or GENERATE_PARAMS, "split": split, "model": model})
