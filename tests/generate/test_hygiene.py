"""Outputs are normalized: RGB PNG, size policy, no metadata, content hash."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from echo_bench.generate.hygiene import ImageError, SizePolicy, decode_rgb, normalize


def _bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_png_is_rgb_hashed_and_free_of_metadata():
    rgb = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x010F] = "SomeCamera"
    jpg = _bytes(Image.fromarray(rgb), "JPEG", quality=95, exif=exif.tobytes())
    assert b"SomeCamera" in jpg
    out = normalize(jpg, SizePolicy(max_side=None))
    assert out.png.startswith(b"\x89PNG") and b"SomeCamera" not in out.png
    assert out.sha256 == hashlib.sha256(out.png).hexdigest()
    im = Image.open(io.BytesIO(out.png))
    assert im.mode == "RGB" and im.size == (60, 40)
    assert not im.info.get("exif") and not im.getexif()
    chunks = []  # only the critical chunks: IHDR, IDAT, IEND
    data = out.png[8:]
    while data:
        n = int.from_bytes(data[:4], "big")
        chunks.append(data[4:8].decode())
        data = data[12 + n:]
    assert set(chunks) == {"IHDR", "IDAT", "IEND"}
    # equal pixels give equal bytes, whatever the source format
    again = normalize(out.png, SizePolicy(max_side=None))
    assert again.png == out.png and again.sha256 == out.sha256


def test_alpha_is_composited_over_white_and_grey_expanded():
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :5, 3] = 255  # left half opaque red, right half transparent
    out = normalize(_bytes(Image.fromarray(rgba, "RGBA"), "PNG"), SizePolicy()).pixels()
    assert (out[:, :5] == [255, 0, 0]).all() and (out[:, 5:] == [255, 255, 255]).all()
    grey = normalize(_bytes(Image.fromarray(np.full((5, 5), 77, np.uint8), "L"), "PNG"), SizePolicy()).pixels()
    assert grey.shape == (5, 5, 3) and (grey == 77).all()
    pal = Image.fromarray(np.full((6, 6, 3), 200, np.uint8)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert (normalize(_bytes(pal, "PNG"), SizePolicy()).pixels() == 200).all()


def test_exif_orientation_is_applied_before_stripping():
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :10] = 255  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = _bytes(Image.fromarray(rgb), "PNG", exif=exif.tobytes())
    out = normalize(data, SizePolicy())
    assert (out.width, out.height) == (20, 40)
    px = out.pixels()
    assert px[:10].mean() > 200 and px[-10:].mean() < 50  # the band is now on top
    assert np.array_equal(px, decode_rgb(data))


@pytest.mark.parametrize(("size", "expect"), [((2000, 1000), (1024, 512)), ((600, 3000), (205, 1024)), ((800, 600), (800, 600))])
def test_size_policy_scales_down_keeping_the_aspect_ratio(size, expect):
    img = Image.new("RGB", size, (10, 20, 30))
    out = normalize(img, SizePolicy(max_side=1024))
    assert (out.width, out.height) == expect
    assert out.resized_from == (None if expect == size else size)
    assert (normalize(img, SizePolicy(max_side=None)).width, normalize(img, SizePolicy(max_side=None)).height) == size


def test_webp_and_arrays_and_bad_data():
    rgb = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert np.array_equal(normalize(_bytes(Image.fromarray(rgb), "WEBP", lossless=True), SizePolicy()).pixels(), rgb)
    assert np.array_equal(normalize(rgb, SizePolicy()).pixels(), rgb)
    with pytest.raises(ImageError, match="undecodable"):
        normalize(b"not an image at all", SizePolicy())
    with pytest.raises(ImageError, match="undecodable"):
        normalize(_bytes(Image.fromarray(rgb), "PNG")[:60], SizePolicy())


def test_decompression_bombs_are_rejected(monkeypatch):
    from echo_bench.generate import hygiene

    monkeypatch.setattr(hygiene, "MAX_PIXELS", 100)
    with pytest.raises(ImageError, match="decompression_bomb"):
        normalize(_bytes(Image.new("RGB", (20, 20)), "PNG"), SizePolicy())


def test_policy_params_are_checked():
    assert SizePolicy.from_params({"max_side": None}).max_side is None
    with pytest.raises(ValueError, match="unknown keys"):
        SizePolicy.from_params({"max_size": 3})
    with pytest.raises(ValueError, match="resample"):
        SizePolicy.from_params({"resample": "magic"})
