"""Color shift: the paper's definition reproduced exactly, batched = naive, CIEDE2000 known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from echo_bench.metrics import color, controls

# --- the paper's numbers ----------------------------------------------------------------

PAPER_INPUTS = (130.20, 122.15, 113.10)
PAPER_4O = (121.31, 107.79, 91.08)
PAPER_NANO_BANANA = (128.81, 121.62, 113.30)


def test_paper_magnitudes_from_mean_vectors() -> None:
    assert round(color.color_shift_magnitude(PAPER_INPUTS, PAPER_4O), 2) == 27.75
    assert round(color.color_shift_magnitude(PAPER_INPUTS, PAPER_NANO_BANANA), 2) == 1.50


def naive_reference(input_images: list[np.ndarray], output_images: list[np.ndarray]) -> float:
    """The reference's procedure, written plainly: summed 256-bin histograms per channel,
    bins 5..250 kept, each channel normalized to sum 1, mean intensity, Euclidean distance."""

    def mean_rgb(images: list[np.ndarray]) -> np.ndarray:
        total = np.zeros((3, 256))
        for img in images:
            for c in range(3):
                h, _ = np.histogram(img[:, :, c].ravel(), bins=256, range=(0, 256))
                total[c] += h
        kept = total[:, 5:251]
        p = kept / kept.sum(axis=1, keepdims=True)
        return (p * np.arange(5, 251)).sum(axis=1)

    return float(np.linalg.norm(mean_rgb(input_images) - mean_rgb(output_images)))


def test_library_equals_naive_reference_on_fixed_pairs(scenes) -> None:
    ins = scenes
    outs = [controls.color_cast(s) for s in scenes[:2]] + [scenes[2][::2, ::2].copy()]
    want = naive_reference(ins, outs)
    # pooled from histograms
    h_in = color.channel_histograms(ins)
    h_out = color.channel_histograms(outs)
    got = color.pooled_color_shift_from_hists(h_in, h_out)
    assert got.magnitude == pytest.approx(want, abs=1e-9)
    # pooled from the per-sample moments kept in the metric values
    pairs = color.measure_pairs([[x] for x in ins], outs)
    pooled = color.pooled_color_shift(
        np.array([p.in_counts for p in pairs]), np.array([p.in_sums for p in pairs]),
        np.array([p.out_counts for p in pairs]), np.array([p.out_sums for p in pairs]),
    )
    assert pooled.magnitude == pytest.approx(want, abs=1e-9)
    # one pair: the per-sample magnitude is the same definition on that pair
    assert pairs[0].magnitude == pytest.approx(naive_reference(ins[:1], outs[:1]), abs=1e-9)
    assert want > 10  # the warm cast moves the pooled mean a lot


def test_pooling_is_not_averaging(scenes) -> None:
    """Pooled histograms weight images by pixel count: not the mean of per-sample magnitudes."""
    small = scenes[0][:64, :64].copy()
    ins, outs = [scenes[1], small], [scenes[1], controls.color_cast(small)]
    pooled = color.pooled_color_shift_from_hists(color.channel_histograms(ins), color.channel_histograms(outs))
    per_sample = [color.measure_pairs([[a]], [b])[0].magnitude for a, b in zip(ins, outs)]
    assert pooled.magnitude == pytest.approx(naive_reference(ins, outs), abs=1e-9)
    assert abs(pooled.magnitude - np.mean(per_sample)) > 1.0


def test_extreme_bins_are_ignored() -> None:
    img = np.full((10, 10, 3), 128, np.uint8)
    out = img.copy()
    out[:5] = 255  # saturated whites: outside the kept bins
    out[5:, :3] = 0  # and crushed blacks
    m = color.measure_pairs([[img]], [out])[0]
    assert m.magnitude == 0.0
    assert m.mean_out == [128.0, 128.0, 128.0]


def test_batched_histograms_equal_naive_loop(scenes) -> None:
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for h, w in [(7, 9), (64, 33), (1, 1), (50, 50)]]
    imgs += scenes
    want = color.naive_channel_histograms(imgs)
    for method in ("batched", "planes", "auto"):  # batched is the GPU path, planes the CPU one
        for bs in (1, 3, 16):
            np.testing.assert_array_equal(color.channel_histograms(imgs, batch_size=bs, method=method), want)


def test_controls_color_cast_has_the_largest_shift(scenes) -> None:
    for i, img in enumerate(scenes):
        c = controls.controls(img, seed=i)
        names = list(c)
        res = color.measure_pairs([[img]] * len(names), list(c.values()))
        shift = {n: r.magnitude for n, r in zip(names, res)}
        de = {n: r.delta_e_mean_color for n, r in zip(names, res)}
        assert max(shift, key=shift.get) == "color_cast", shift
        assert max(de, key=de.get) == "color_cast", de
        assert shift["identity"] == 0.0 and de["identity"] == pytest.approx(0.0, abs=1e-6)
        assert shift["scrambled"] == 0.0  # the same pixels, moved
        assert shift["color_cast"] > 10 and de["color_cast"] > 5
        # per-pixel CIEDE2000 also moves with layout: scrambled is far from 0 there
        assert res[names.index("scrambled")].delta_e_pixel > 5


# --- CIEDE2000 ----------------------------------------------------------------------------

# Sharma, Wu & Dalal (2005), test data (L1, a1, b1, L2, a2, b2, dE00)
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_ciede2000_sharma_table() -> None:
    t = torch.tensor(SHARMA, dtype=torch.float64)
    got = color.ciede2000(t[:, 0:3], t[:, 3:6], dim=-1)
    np.testing.assert_allclose(got.numpy(), t[:, 6].numpy(), atol=1e-4)
    # symmetric
    back = color.ciede2000(t[:, 3:6], t[:, 0:3], dim=-1)
    np.testing.assert_allclose(back.numpy(), got.numpy(), atol=1e-9)


def test_ciede2000_matches_scikit_image_and_kornia_lab() -> None:
    from skimage.color import deltaE_ciede2000, rgb2lab

    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, (2, 8, 8, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    want = deltaE_ciede2000(rgb2lab(a[0]), rgb2lab(b[0]))
    la = color.rgb_batch_to_lab(torch.from_numpy(a[:1]).permute(0, 3, 1, 2).double())
    lb = color.rgb_batch_to_lab(torch.from_numpy(b[:1]).permute(0, 3, 1, 2).double())
    got = color.ciede2000(la, lb)[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-3)
