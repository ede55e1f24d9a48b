"""The offline judge's face signal is calibrated to the face backend of the metrics table."""

from __future__ import annotations

import json

import polars as pl
import pytest

from echo_bench.judge.offline import EXAMPLE_CONFIG, OfflineJudge, measure, rate, table_signals
from echo_bench.schemas import METRIC_VALUES


def _face_rows(backend: str, rows: dict[str, tuple[float, dict]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"split": "image_to_image", "model": m, "sample_id": "s1", "metric": "face_identity", "value": v,
          "status": "ok", "detail": json.dumps({"backend": backend, **d})} for m, (v, d) in rows.items()],
        schema=METRIC_VALUES,
    )


def _face_q(table: dict, tmp_path) -> float:
    from PIL import Image

    path = tmp_path / "out.png"
    # a gradient, so the output is not blank
    img = Image.linear_gradient("L").convert("RGB").resize((32, 32))
    img.save(path)
    signals, _ = measure(str(path), [], "", table, EXAMPLE_CONFIG)
    face = [s for s in signals if s.name == "face_identity"]
    _, q, _ = rate(face, EXAMPLE_CONFIG)
    return q


def test_dlib_face_swap_gets_a_lower_face_signal_than_identity(tmp_path):
    # the committed table's figures: dlib cosine 0.852 / distance 0.77 for face_swap
    df = _face_rows("dlib-resnet-v1/hog", {"identity": (1.0, {"distance": 0.0}),
                                           "face_swap": (0.852, {"distance": 0.77}),
                                           "color_cast": (0.998, {"distance": 0.08}),
                                           "scramble": (0.0, {"distance": None, "face_lost": True})})
    sig = table_signals(df)
    q = {m: _face_q(sig[("s1", m)], tmp_path) for m in ("identity", "face_swap", "color_cast", "scramble")}
    assert q["identity"] == 1.0
    assert q["face_swap"] < 0.2 < q["color_cast"] < q["identity"]
    assert q["scramble"] == 0.0


def test_cosine_backend_uses_its_own_calibration(tmp_path):
    df = _face_rows("insightface/auraface", {"same": (0.95, {"distance": 0.3}), "other": (0.1, {"distance": 1.3})})
    sig = table_signals(df)
    assert "face_distance" not in sig[("s1", "same")]
    assert _face_q(sig[("s1", "same")], tmp_path) > 0.9
    assert _face_q(sig[("s1", "other")], tmp_path) == 0.0


def test_bad_face_calibration_is_refused():
    cfg = {**EXAMPLE_CONFIG, "face_calibration": {"dlib": {"measure": "distance", "same": 0.6, "different": 0.6}}}
    with pytest.raises(ValueError, match="same != different"):
        OfflineJudge(cfg)
