"""Each control does what it claims, measured on real photos (scikit-image's astronaut, Grace Hopper)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rapidfuzz.distance import Levenshtein

from echo_bench.generate import controls as C


def run(name: str, prompt: str = "", inputs=(), seed: int = 7, **settings):
    return C.run_control(name, C.control_settings(name, settings), prompt=prompt, inputs=list(inputs), seed=seed)


# --- identity -----------------------------------------------------------------------------------


def test_identity_returns_the_first_input_pixel_for_pixel(astronaut, grace_hopper):
    out = run("identity", "anything", [astronaut, grace_hopper])
    assert out.image.dtype == np.uint8 and out.image.shape == astronaut.shape
    assert np.array_equal(out.image, astronaut)
    assert out.image is not astronaut  # a copy: the input is never modified in place


def test_identity_text_to_image_renders_the_quoted_text_only():
    prompt = 'A sign that says "OPEN 24/7" next to \u201cFresh Bread\u201d'
    assert C.requested_text(prompt) == ["OPEN 24/7", "Fresh Bread"]
    out = run("identity", prompt)
    assert out.info["text_source"] == "quoted" and out.info["rendered_text"] == ["OPEN 24/7", "Fresh Bread"]
    img = out.image
    assert img.shape == (512, 512, 3)
    # a plain canvas: the border is exactly the canvas colour, and there is dark text inside
    assert (img[:20] == 235).all() and (img[-20:] == 235).all()
    assert (img.min(axis=2) < 60).sum() > 500


def test_identity_without_quotes_writes_the_prompts_words():
    out = run("identity", "a fox in the snow")
    assert out.info == {"control": "identity", "mode": "text_to_image", "text_source": "prompt_words",
                        "rendered_text": ["a fox in the snow"]}


# --- color_cast ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("delta", [[0.0, 0.0, 20.0], [0.0, 0.0, -12.0], [0.0, 15.0, 0.0], [0.0, 8.0, 16.0]])
def test_color_cast_moves_the_mean_cielab_colour_by_its_parameter(astronaut, delta):
    out = run("color_cast", "x", [astronaut], delta_lab=delta)
    shift = C.mean_lab(out.image) - C.mean_lab(astronaut)
    d = np.asarray(delta)
    along = float(shift @ d / np.linalg.norm(d))
    assert abs(along - np.linalg.norm(d)) <= 0.10 * np.linalg.norm(d), (shift, delta)
    # and it is a cast in that direction, not a change of lightness
    across = shift - along * d / np.linalg.norm(d)
    assert np.linalg.norm(across) < 0.25 * np.linalg.norm(d), (shift, delta)
    assert out.info["calibrated"] and out.info["applied_delta_lab"]


def test_color_cast_uncalibrated_is_a_plain_shift_and_clipping_shows(astronaut):
    plain = C.color_cast(astronaut, (0, 0, 20), calibrate=False)
    shift = (C.mean_lab(plain) - C.mean_lab(astronaut))[2]
    assert 10.0 < shift < 20.0  # the gamut clips part of a plain +20 b* shift: why calibration exists


def test_color_cast_gain_is_a_per_channel_gain(astronaut):
    out = C.color_cast(astronaut, gain=(1.0, 1.0, 0.5))
    assert np.array_equal(out[..., :2], astronaut[..., :2])
    expect = np.clip(np.rint(astronaut[..., 2].astype(np.float32) * 0.5), 0, 255)
    assert np.abs(out[..., 2].astype(int) - expect.astype(int)).max() <= 1


# --- scramble -------------------------------------------------------------------------------------------


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    import kornia

    ta = torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255
    tb = torch.from_numpy(b).permute(2, 0, 1)[None].float() / 255
    return float(kornia.metrics.ssim(ta, tb, 11).mean())


@pytest.mark.parametrize("block", [16, 32, 100])
def test_scramble_keeps_every_colour_and_destroys_the_layout(astronaut, block):
    out = run("scramble", "x", [astronaut], block=block).image
    # a permutation of pixels: the multiset of RGB triples is identical, so every histogram is too
    key = lambda im: np.sort(im.reshape(-1, 3).astype(np.int64) @ np.array([65536, 256, 1]))  # noqa: E731
    assert np.array_equal(key(out), key(astronaut))
    for c in range(3):
        assert np.array_equal(np.bincount(out[..., c].ravel(), minlength=256), np.bincount(astronaut[..., c].ravel(), minlength=256))
    # the structure is gone: most pixels differ, SSIM collapses (1.0 for identical images)
    assert (out != astronaut).any(axis=2).mean() > 0.8
    assert _ssim(out, astronaut) < 0.35
    assert _ssim(astronaut, astronaut) > 0.999


def test_scramble_moves_every_tile():
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)  # every 2x2 tile distinct
    out, info = C.scramble(img, block=2, seed=3)
    assert info["tiles"] == 16
    tiles = lambda im: [im[r:r + 2, c:c + 2].tobytes() for r in range(0, 8, 2) for c in range(0, 8, 2)]  # noqa: E731
    a, b = tiles(img), tiles(out)
    assert sorted(a) == sorted(b) and all(x != y for x, y in zip(a, b))


def test_scramble_is_seeded_by_sample():
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    s1 = C.derive_seed("sample-a", 1)
    assert s1 == C.derive_seed("sample-a", 1) != C.derive_seed("sample-b", 1) != C.derive_seed("sample-a", 2)
    assert np.array_equal(C.scramble(img, 8, s1)[0], C.scramble(img, 8, s1)[0])
    assert not np.array_equal(C.scramble(img, 8, s1)[0], C.scramble(img, 8, C.derive_seed("sample-b", 1))[0])


# --- typo -------------------------------------------------------------------------------------------------


TEXTS = ["GRAND OPENING SALE", "Best Dad Ever", "Happy 40th Birthday, Maria!", "Le Petit Café de la Gare",
         "The quick brown fox jumps over the lazy dog"]


@pytest.mark.parametrize("cer", [0.0, 0.05, 0.1, 0.2, 0.35, 0.5])
@pytest.mark.parametrize("text", TEXTS)
def test_typo_character_error_rate_equals_its_parameter(text, cer):
    for seed in range(5):
        typoed, positions = C.typo_text(text, cer, seed)
        assert len(typoed) == len(text)
        measured = Levenshtein.distance(text, typoed) / len(text)
        assert measured == len(positions) / len(text)  # distance is exactly the number of substitutions
        assert abs(measured - cer) <= 0.5 / len(text) + 1e-12, (text, cer, typoed)
        assert all(not text[i].isspace() for i in positions)


def test_typo_control_records_what_it_rendered():
    prompt = 'A shop sign reading "Le Petit Café" and below it "Since 1921"'
    out = run("typo", prompt, cer=0.25, seed=11)
    req, got = out.info["requested_text"], out.info["rendered_text"]
    assert req == "Le Petit Café\nSince 1921"
    assert Levenshtein.distance(req, got) == out.info["substitutions"] == round(0.25 * len(req))
    assert out.info["measured_cer"] == pytest.approx(Levenshtein.distance(req, got) / len(req))
    assert out.image.shape == (512, 512, 3)


def test_typo_on_an_input_image_only_touches_the_banner(astronaut):
    out = run("typo", 'Add the caption "Hello Moon"', [astronaut], cer=0.2)
    x0, y0, x1, y1 = out.info["banner"]
    changed = (out.image != astronaut).any(axis=2)
    assert changed[y0:y1].mean() > 0.5 and not changed[:y0].any()
    # the banner takes the strip's mean colour: the text changes, the colour balance hardly
    before = astronaut[y0:y1].reshape(-1, 3).astype(float).mean(0)
    after = out.image[y0:y1].reshape(-1, 3).astype(float).mean(0)
    assert np.linalg.norm(before - after) < 15
    assert np.abs(astronaut[y0:y1].astype(float) - out.image[y0:y1].astype(float)).mean() > 10


@pytest.fixture(scope="module")
def ocr():
    try:
        from rapidocr import RapidOCR
    except ImportError as e:  # pragma: no cover - rapidocr is a project dependency
        pytest.skip(f"rapidocr not importable: {e}")
    import logging

    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    return RapidOCR()


def _read(ocr, img) -> str:
    res = ocr(img)
    return " ".join(res.txts or ())


def test_rendered_text_reads_back_with_ocr(ocr):
    prompt = 'A poster with the words "GRAND OPENING SALE" and "50% off today"'
    ident = run("identity", prompt)
    assert " ".join(_read(ocr, ident.image).split()) == "GRAND OPENING SALE 50% off today"
    typo = run("typo", prompt, cer=0.3, seed=5)
    requested = " ".join(typo.info["requested_text"].split())
    read = " ".join(_read(ocr, typo.image).split())
    assert read == " ".join(typo.info["rendered_text"].split())  # the OCR sees exactly what was rendered
    assert abs(Levenshtein.distance(requested, read) / len(requested) - 0.3) <= 0.5 / len(requested) + 1e-9
    # small canvases wrap between words, never inside one
    small = run("identity", 'A vintage poster with the headline "GRAND OPENING" in bold letters', canvas_size=[256, 256])
    assert _read(ocr, small.image).split() == ["GRAND", "OPENING"]


# --- face_swap -----------------------------------------------------------------------------------------------


def test_face_swap_changes_pixels_only_in_the_face_region(astronaut):
    out = run("face_swap", "x", [astronaut])
    info = out.info
    box = info["face_box"]
    mask = C.ellipse_mask(astronaut.shape, box, info["face_scale"])
    changed = (out.image != astronaut).any(axis=2)
    assert not (changed & ~mask).any()  # nothing outside the region
    assert changed[mask].mean() > 0.95  # nearly every pixel inside it
    assert info["face_pixels"] == int(mask.sum())
    if C.dlib_available():
        assert info["face_source"] == "dlib_hog"
        # Eileen Collins' face in skimage's astronaut: roughly x 170-280, y 60-190 of 512 x 512
        x0, y0, x1, y1 = box
        assert 150 <= x0 < x1 <= 300 and 40 <= y0 < y1 <= 210
    mean_in = astronaut[mask].astype(float).mean(0)
    mean_out = out.image[mask].astype(float).mean(0)
    assert np.linalg.norm(mean_in - mean_out) < 4  # the region keeps its mean colour ...
    per_pixel = np.abs(out.image[mask].astype(float) - astronaut[mask].astype(float)).sum(axis=1)
    assert per_pixel.mean() > 30  # ... but holds a different face, not a slight retouch


def test_face_swap_falls_back_to_a_central_ellipse(grace_hopper):
    out = run("face_swap", "x", [grace_hopper], detector="center")
    h, w = grace_hopper.shape[:2]
    assert out.info["face_source"] == "center" and out.info["face_box"] == [w // 4, h // 4, w - w // 4, h - h // 4]
    changed = (out.image != grace_hopper).any(axis=2)
    assert not (changed & ~C.ellipse_mask(grace_hopper.shape, out.info["face_box"], out.info["face_scale"])).any()


def test_face_swap_finds_grace_hoppers_face_with_dlib(grace_hopper):
    if not C.dlib_available():
        pytest.skip("dlib not importable: the central-ellipse fallback is tested above")
    box, source = C.detect_face(grace_hopper)
    assert source == "dlib_hog"
    x0, y0, x1, y1 = box  # her face: about x 150-370, y 80-330 of the 512 x 600 photo
    assert 100 < (x0 + x1) / 2 < 400 and 80 < (y0 + y1) / 2 < 330


# --- all controls ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", C.CONTROLS)
def test_every_control_is_deterministic_and_works_without_input(name, astronaut):
    for inputs in ([], [astronaut[:200, :300]]):
        a = run(name, 'a sign "Hello"', inputs, seed=C.derive_seed("s1", 3))
        b = run(name, 'a sign "Hello"', inputs, seed=C.derive_seed("s1", 3))
        assert a.image.dtype == np.uint8 and a.image.ndim == 3 and a.image.shape[2] == 3
        assert np.array_equal(a.image, b.image) and a.info == b.info


def test_unknown_settings_and_controls_are_errors():
    with pytest.raises(ValueError, match="unknown setting"):
        C.control_settings("scramble", {"blocksize": 4})
    with pytest.raises(ValueError, match="unknown control"):
        C.control_settings("blur", {})
    with pytest.raises(ValueError):
        C.typo_text("abc", 1.5)


def test_scramble_fraction_moves_that_share_of_tiles_and_keeps_every_colour() -> None:
    from echo_bench.generate.controls import scramble

    img = np.random.default_rng(3).integers(0, 256, (128, 128, 3), dtype=np.uint8)  # 16 distinct 32-px tiles
    tiles = lambda a: a.reshape(4, 32, 4, 32, 3).transpose(0, 2, 1, 3, 4).reshape(16, -1)  # noqa: E731
    full, _ = scramble(img, 32, seed=5)
    for fraction, moved in ((0.25, 4), (0.5, 8), (1.0, 16)):
        out, info = scramble(img, 32, seed=5, fraction=fraction)
        changed = int((tiles(out) != tiles(img)).any(axis=1).sum())
        assert changed == moved == info["tiles_moved"], (fraction, changed)
        assert sorted(map(bytes, tiles(out))) == sorted(map(bytes, tiles(img)))  # a permutation of the tiles
    assert np.array_equal(scramble(img, 32, seed=5, fraction=1.0)[0], full)  # 1 is the plain control
    assert np.array_equal(scramble(img, 32, seed=5, fraction=0.0)[0], img)


def test_face_swap_alpha_scales_the_change_inside_the_face_only() -> None:
    from echo_bench.generate.controls import face_swap

    img = np.random.default_rng(4).integers(40, 200, (160, 160, 3), dtype=np.uint8)
    diffs = {}
    for alpha in (0.0, 0.5, 1.0):
        out, info = face_swap(img, seed=1, detector="center", face_alpha=alpha)
        diffs[alpha] = np.abs(out.astype(int) - img.astype(int)).sum()
        assert info["face_alpha"] == alpha
    assert diffs[0.0] == 0
    assert 0.4 < diffs[0.5] / diffs[1.0] < 0.6
    with pytest.raises(ValueError):
        face_swap(img, seed=1, detector="center", face_alpha=1.5)
