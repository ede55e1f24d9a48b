"""Structure distance: controls order as expected; the DINO ViT-S/16 loads official-style weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from echo_bench.metrics import controls
from echo_bench.metrics.structure import (
    DINO_FILE,
    DinoViTS16,
    StructureDistance,
    cosine_self_similarity,
    dino_self_similarity,
    load_dino_vits16,
    patch_self_similarity,
)
from echo_bench.metrics.images import resized_batch


def test_offline_controls_ordering(scenes) -> None:
    sd = StructureDistance("offline")
    for i, img in enumerate(scenes):
        c = controls.controls(img, seed=i)
        blur = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(2)))
        names = [*c, "blur"]
        d = dict(zip(names, sd.distances([img] * len(names), [*c.values(), blur])))
        assert d["identity"] == pytest.approx(0.0, abs=1e-10)
        assert max(d, key=d.get) == "scrambled", d
        assert d["identity"] < d["color_cast"] < d["scrambled"]
        # appearance changes that keep the layout stay an order of magnitude below a scramble
        assert d["color_cast"] < 0.1 * d["scrambled"] and d["blur"] < 0.1 * d["scrambled"], d


def test_offline_is_batch_invariant_and_size_robust(scenes) -> None:
    sd = StructureDistance("offline")
    outs = [controls.color_cast(s) for s in scenes]
    one = np.array([sd.distances([a], [b])[0] for a, b in zip(scenes, outs)])
    np.testing.assert_allclose(sd.distances(scenes, outs, batch_size=2), one, rtol=1e-4, atol=1e-7)
    # an output at another resolution with the same layout is still close
    bigger = np.asarray(Image.fromarray(scenes[0]).resize((640, 512), Image.Resampling.BICUBIC))
    scr = controls.scrambled(scenes[0])
    d_big, d_scr = sd.distances([scenes[0], scenes[0]], [bigger, scr])
    assert d_big < 0.1 * d_scr


def test_patch_self_similarity_shape() -> None:
    batch = torch.rand(2, 3, 224, 224)
    s = patch_self_similarity(batch)
    assert s.shape == (2, 196, 196)
    torch.testing.assert_close(torch.diagonal(s, dim1=-2, dim2=-1), torch.ones(2, 196), atol=1e-5, rtol=0)


# --- DINO ViT-S/16 ----------------------------------------------------------------------

OFFICIAL_SHAPES = {
    "cls_token": (1, 1, 384),
    "pos_embed": (1, 197, 384),
    "patch_embed.proj.weight": (384, 3, 16, 16),
    "patch_embed.proj.bias": (384,),
    "blocks.11.attn.qkv.weight": (1152, 384),
    "blocks.11.attn.qkv.bias": (1152,),
    "blocks.11.attn.proj.weight": (384, 384),
    "blocks.11.mlp.fc1.weight": (1536, 384),
    "blocks.11.mlp.fc2.weight": (384, 1536),
    "blocks.11.norm1.weight": (384,),
    "norm.weight": (384,),
    "norm.bias": (384,),
}


def test_vits16_has_the_official_parameter_names_and_size() -> None:
    sd = DinoViTS16().state_dict()
    assert len(sd) == 150  # 4 + 12 blocks x 12 + 2
    for k, shape in OFFICIAL_SHAPES.items():
        assert tuple(sd[k].shape) == shape, k
    assert sum(v.numel() for v in sd.values()) == 21_665_664  # ViT-S/16 without head (DINO: 21.7M)


@pytest.fixture(scope="module")
def random_dino(tmp_path_factory):
    torch.manual_seed(0)
    model = DinoViTS16().eval()
    hub = tmp_path_factory.mktemp("hub")
    (hub / "checkpoints").mkdir()
    torch.save(model.state_dict(), hub / "checkpoints" / DINO_FILE)
    return model, hub


def test_load_from_file_hub_dir_and_full_checkpoint(random_dino, tmp_path) -> None:
    model, hub = random_dino
    x = torch.rand(1, 3, 112, 112)  # small input (interpolated positions) to keep the test fast
    want = dino_self_similarity(model, x)
    for src in (hub, hub / "checkpoints" / DINO_FILE):
        got = dino_self_similarity(load_dino_vits16(src), x)
        torch.testing.assert_close(got, want)
    # a full DINO training checkpoint: the teacher's weights under "backbone.", with a head
    full = {"teacher": {**{f"backbone.{k}": v for k, v in model.state_dict().items()},
                        "head.last_layer.weight": torch.zeros(3, 3)}, "epoch": 100}
    torch.save(full, tmp_path / "full.pth")
    torch.testing.assert_close(dino_self_similarity(load_dino_vits16(tmp_path / "full.pth"), x), want)


def test_dino_keys_self_similarity(random_dino) -> None:
    model, hub = random_dino
    x = torch.rand(1, 3, 224, 224)
    keys = model.last_block_keys(x)
    assert keys.shape == (1, 197, 384)  # CLS + 14x14 patches, 6 heads x 64 concatenated
    # the keys are the last block's qkv projection of its normalized input (what Splice hooks)
    t = model.tokens(x)
    for blk in model.blocks[:-1]:
        t = blk(t)
    k_ref = model.blocks[-1].attn.qkv(model.blocks[-1].norm1(t))[..., 384:768]
    torch.testing.assert_close(keys, k_ref)
    s = cosine_self_similarity(keys)
    assert s.shape == (1, 197, 197)
    sd = StructureDistance("dino", dino_weights=str(hub), size=112)
    img = controls.scene(256, 3)
    d = sd.distances([img, img], [img, controls.scrambled(img)], batch_size=2)
    assert d[0] == pytest.approx(0.0, abs=1e-10) and d[1] > 0


def test_dino_without_weights_says_what_to_do(tmp_path) -> None:
    with pytest.raises(ValueError, match="dino_weights"):
        StructureDistance("dino")
    with pytest.raises(FileNotFoundError, match=DINO_FILE):
        StructureDistance("dino", dino_weights=str(tmp_path))


def test_resized_batch_is_in_unit_range(scenes) -> None:
    b = resized_batch(scenes, 224)
    assert b.shape == (3, 3, 224, 224) and float(b.min()) >= 0 and float(b.max()) <= 1
