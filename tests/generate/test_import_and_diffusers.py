"""The import backend (outputs made elsewhere) and the optional diffusers backend."""

from __future__ import annotations

import json
import logging
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from echo_bench.generate.backends import BackendConfigError, DiffusersBackend, GenRequest, make_backend
from echo_bench.generate.hygiene import decode_rgb
from echo_bench.io import read_parquet
from echo_bench.schemas import GENERATIONS
from echo_bench.stages import generate as stage
from gen_helpers import GENERATE_PARAMS, stage_params

LOG = logging.getLogger("test.generate.import")


def _img(color, size=(30, 20)) -> Image.Image:
    return Image.new("RGB", size, color)


def _run(root: Path, split: str, model: str, entry: dict, inputs_extra=None):
    gen = json.loads(json.dumps(GENERATE_PARAMS))
    gen["models"] = {model: entry}
    outputs = {"manifest": str(root / f"data/generated/{split}/{model}.parquet"),
               "images": str(root / f"data/generated/{split}/{model}")}
    summary = stage.run({"samples": str(root / f"data/splits/{split}.parquet"), **(inputs_extra or {})}, outputs,
                        stage_params(split, model, gen), LOG)
    return read_parquet(outputs["manifest"], GENERATIONS), summary


def test_import_matches_files_to_sample_ids(mini_repo, monkeypatch):
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    folder = root / "data/external/my_model/image_to_image"
    folder.mkdir(parents=True)
    exif = Image.Exif()
    exif[0x010F] = "PhoneCam"
    _img((200, 10, 10)).save(folder / "i2i_000.JPG", quality=95, exif=exif.tobytes())  # extension case ignored
    big = Image.new("RGBA", (2048, 1024), (0, 0, 255, 128))
    big.save(folder / "i2i_001.webp", lossless=True)
    (folder / "not_a_sample.png").write_bytes(b"x")
    (folder / "notes.txt").write_text("ignored")
    entry = {"backend": "import", "path": "data/external/my_model"}
    df, summary = _run(root, "image_to_image", "my_model", entry,
                       {"import_dir": "data/external/my_model/image_to_image"})
    by = {r["sample_id"]: r for r in df.iter_rows(named=True)}
    assert by["i2i_000"]["status"] == "ok" and by["i2i_001"]["status"] == "ok"
    assert by["i2i_002"]["status"] == "missing" and by["i2i_002"]["output_image"] is None
    assert by["i2i_002"]["reason"] == "no_file: no i2i_002.{png,jpg,jpeg,webp} in data/external/my_model/image_to_image"
    png0 = (root / by["i2i_000"]["output_image"]).read_bytes()
    assert png0.startswith(b"\x89PNG") and b"PhoneCam" not in png0
    px1 = decode_rgb(root / by["i2i_001"]["output_image"])
    assert px1.shape == (512, 1024, 3)  # size policy: longer side 1024, aspect kept
    assert np.abs(px1.astype(int) - [127, 127, 255]).max() <= 1  # half-transparent blue over white
    assert json.loads(by["i2i_000"]["settings"])["info"]["source_file"] == "i2i_000.JPG"
    assert all(r["backend"] == "import" and r["seed"] is None and r["latency_s"] is None for r in by.values())
    assert summary["status_missing"] == 1 and summary["import_unmatched_files"] == 1
    assert summary["import_folder"] == "data/external/my_model/image_to_image"


def test_import_ambiguous_corrupt_and_absent_folder(mini_repo, monkeypatch):
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    folder = root / "outs/text_to_image/v2"  # path with {split} inside
    folder.mkdir(parents=True)
    _img((1, 2, 3)).save(folder / "t2i_000.png")
    _img((1, 2, 3)).save(folder / "t2i_000.jpg")
    (folder / "t2i_001.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    entry = {"backend": "import", "path": "outs/{split}/v2"}
    gen_split = "text_to_image"
    df, summary = _run(root, gen_split, "mine", entry)
    by = {r["sample_id"]: (r["status"], r["reason"]) for r in df.iter_rows(named=True)}
    assert by["t2i_000"][0] == "failed" and by["t2i_000"][1].startswith("ambiguous: ")
    assert by["t2i_001"][0] == "failed" and by["t2i_001"][1].startswith("output_unusable: undecodable")
    assert by["t2i_002"][0] == "missing"
    df2, _ = _run(root, "image_to_image", "mine", entry)
    assert set(df2["status"]) == {"missing"}
    assert df2["reason"][0] == "import_folder_missing: outs/image_to_image/v2 does not exist"
    with pytest.raises(BackendConfigError, match="needs `path`"):
        make_backend("mine", {"backend": "import"}, split="x")
    with pytest.raises(ValueError, match="is not the model's folder"):
        _run(root, gen_split, "mine", entry, {"import_dir": "elsewhere"})


def test_diffusers_missing_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import fails as when the extra is not installed
    with pytest.raises(BackendConfigError, match=r"pip install 'echo-bench\[diffusers\]'"):
        make_backend("local_sd", {"backend": "diffusers", "model_path": str(tmp_path)}, split="s")


class _FakePipe:
    calls: list[dict] = []

    @classmethod
    def from_pretrained(cls, path, **kw):
        assert kw["local_files_only"] is True  # never a hub download
        p = cls()
        p.path, p.kw = path, kw
        return p

    @classmethod
    def from_pipe(cls, pipe):
        return pipe

    def to(self, device):
        self.device = device
        return self

    def set_progress_bar_config(self, **kw):
        pass

    def __call__(self, prompt, generator, **kw):
        import torch

        value = int(torch.randint(0, 256, (1,), generator=generator))
        _FakePipe.calls.append({"prompt": prompt, **kw})
        img = kw.get("image")
        out = (Image.new("RGB", (24, 16), (value, 0, 0)) if img is None else
               (img[0] if isinstance(img, list) else img).transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        return types.SimpleNamespace(images=[out])


def test_diffusers_backend_wiring_with_a_fake_module(monkeypatch, tmp_path):
    fake = types.ModuleType("diffusers")
    fake.AutoPipelineForText2Image = _FakePipe
    fake.AutoPipelineForImage2Image = _FakePipe
    fake.FluxKontextPipeline = _FakePipe
    monkeypatch.setitem(sys.modules, "diffusers", fake)
    (tmp_path / "model_index.json").write_text("{}")
    with pytest.raises(BackendConfigError, match="not a local folder"):
        make_backend("sd", {"backend": "diffusers", "model_path": str(tmp_path / "nope")}, split="s")
    b = make_backend("sd", {"backend": "diffusers", "model_path": str(tmp_path), "device": "cpu",
                            "call": {"num_inference_steps": 2}}, split="s")
    assert isinstance(b, DiffusersBackend)
    r1 = b.generate(GenRequest("s", "a", "a cat", [], [], 123))
    r2 = b.generate(GenRequest("s", "a", "a cat", [], [], 123))
    r3 = b.generate(GenRequest("s", "b", "a cat", [], [], 124))
    assert r1.status == "ok" and r1.seed == 123 and r1.image == r2.image != r3.image  # seeded generator
    assert _FakePipe.calls[-1]["num_inference_steps"] == 2
    src = tmp_path / "in.png"
    arr = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    Image.fromarray(arr).save(src)
    r = b.generate(GenRequest("s", "c", "flip it", [str(src)], ["0" * 64], 5))
    assert np.array_equal(decode_rgb(r.image), arr[:, ::-1])
    m1, m2 = b.cache_material(GenRequest("s", "a", "p", [], [], 1)), b.cache_material(GenRequest("s", "a", "p", [], [], 2))
    assert m1 != m2 and m1["model_index"] is not None
    named = make_backend("k", {"backend": "diffusers", "model_path": str(tmp_path), "pipeline": "NoSuchPipeline"}, split="s")
    with pytest.raises(BackendConfigError, match="no pipeline class"):
        named.generate(GenRequest("s", "a", "p", [], [], 1))
