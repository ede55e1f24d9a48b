"""Face identity with dlib's ResNet (offline default): the same person vs another person."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from echo_bench.metrics import controls
from echo_bench.metrics.face import (
    DLIB_SAME_PERSON_DISTANCE,
    Face,
    face_identity,
    make_face_embedder,
    match_faces,
)


@pytest.fixture(scope="module")
def embedder():
    pytest.importorskip("dlib", reason="dlib (dlib-bin) is not installed")
    return make_face_embedder("dlib", det_size=640)


def test_astronaut_vs_color_shifted_copy_and_vs_grace_hopper(embedder, astronaut, grace_hopper) -> None:
    same = face_identity(astronaut, controls.color_cast(astronaut), embedder)
    other = face_identity(astronaut, grace_hopper, embedder)
    assert same.status == other.status == "ok"
    # dlib's calibrated decision: same person below 0.6 (the brief saw 0.09 and 0.70)
    assert same.distance < 0.2 < DLIB_SAME_PERSON_DISTANCE < other.distance
    assert same.distance == pytest.approx(0.09, abs=0.04)
    assert other.distance == pytest.approx(0.70, abs=0.05)
    # the metric's value, the cosine similarity: high for the same person, clearly lower for another
    assert same.similarity > 0.99
    assert other.similarity < same.similarity - 0.05


def test_no_face_is_a_status_not_a_zero(embedder, astronaut) -> None:
    blank = controls.scene(256, 0)
    m = face_identity(astronaut, blank, embedder)
    assert m.status == "no_face" and m.similarity is None
    assert m.detail()["missing"] == "output" and m.n_in >= 1
    m = face_identity(blank, astronaut, embedder)
    assert m.status == "no_face" and m.detail()["missing"] == "input"


def test_best_pair_over_all_faces() -> None:
    e = np.eye(4)
    faces_in = [Face((0, 0, 1, 1), 1.0, e[0]), Face((0, 0, 1, 1), 1.0, e[1])]
    faces_out = [Face((0, 0, 1, 1), 1.0, e[2]), Face((0, 0, 1, 1), 1.0, 0.9 * e[1] + 0.1 * e[3])]
    m = match_faces(faces_in, faces_out)
    assert m.best_pair == (1, 1) and m.similarity == pytest.approx(0.9 / np.hypot(0.9, 0.1))


def test_insightface_path_fails_clearly(tmp_path) -> None:
    with pytest.raises(ValueError, match="model_dir"):
        make_face_embedder("insightface")
    if importlib.util.find_spec("insightface") is None:
        with pytest.raises(ImportError, match="pip install insightface"):
            make_face_embedder("insightface", model_dir=str(tmp_path))
    else:  # installed: an empty folder is refused before anything loads
        with pytest.raises(FileNotFoundError, match="onnx"):
            make_face_embedder("insightface", model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="backend"):
        make_face_embedder("facenet")
