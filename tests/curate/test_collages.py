"""Rule M3b: output collages (2x2, 1x2, 1x3 grids of outputs) are not before/after composites.

The false-positive rate asked by issue 12 is measured here on collages built at
test time: from synthetic pictures (always) and from the real output images of
the shared awesome-gpt4o-images corpus (skipped when it is absent).  A false
positive is a collage for which the offline image step makes any cell an input.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from curate_helpers import photo, save, shifted, side_by_side
from PIL import Image, ImageOps

from echo_bench.curate import multimodal as mm
from echo_bench.curate import pixels

S = pixels.PixelSettings()
EDIT_PROMPT = "Turn this photo into a Studio Ghibli style illustration"
T2I_PROMPT = "A lighthouse on a cliff at dawn, watercolor, soft light"


def collage(tiles: list[Image.Image], cols: int, gap: int, side: int = 200) -> Image.Image:
    """Tiles (resized to side x side) in a grid of ``cols`` columns with ``gap`` px white gutters (0 = none)."""
    rows = (len(tiles) + cols - 1) // cols
    canvas = Image.new("RGB", (cols * side + (cols - 1) * gap, rows * side + (rows - 1) * gap), (255, 255, 255))
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        canvas.paste(ImageOps.fit(t, (side, side)), (c * (side + gap), r * (side + gap)))
    return canvas


LAYOUTS = [(4, 2), (2, 2), (3, 3), (2, 1)]  # (tiles, columns): 2x2, 1x2, 1x3, 2x1


def _read_as(path: str, prompt: str) -> dict:
    r = mm.offline_classify(prompt, [prompt], [path], S)
    comp = r["composites"]
    return {"inputs": sum(len(c["input_boxes"]) for c in comp), "outputs": sum(len(c["output_boxes"]) for c in comp),
            "kind": comp[0].get("kind") if comp else None, "confidence": comp[0]["confidence"] if comp else None}


def _false_positive_rate(tile_sets: list[list[Image.Image]], tmp_path: Path) -> tuple[int, int, int]:
    """(collages, read as composite with an input, split into all their cells)."""
    n = fp = split = 0
    for k, tiles in enumerate(tile_sets):
        for (n_tiles, cols), gap, prompt in itertools.product(LAYOUTS, (0, 8), (EDIT_PROMPT, T2I_PROMPT)):
            if len(tiles) < n_tiles:
                continue
            path = save(collage(tiles[:n_tiles], cols, gap), tmp_path / f"c{k}_{n_tiles}_{cols}_{gap}_{len(prompt)}.png")
            got = _read_as(path, prompt)
            n += 1
            fp += got["inputs"] > 0
            split += got["inputs"] == 0 and got["outputs"] == n_tiles
    return n, fp, split


def test_synthetic_output_collages_are_outputs(tmp_path: Path) -> None:
    sets = [[photo(100 + 4 * k + j) for j in range(4)] for k in range(6)]
    n, fp, split = _false_positive_rate(sets, tmp_path)
    print(f"synthetic collages: {n}, read as composite with an input: {fp}, split into every cell: {split}")
    assert n == 96 and fp == 0
    assert split / n >= 0.75  # grids without gutters whose tiles meet smoothly stay whole or half-split


def test_real_output_collages_false_positive_rate(gpt4o_corpus: Path, tmp_path: Path) -> None:
    files = sorted((gpt4o_corpus / "media").glob("*.jpg"))[:48]
    tiles = [Image.open(f).convert("RGB") for f in files]
    sets = [tiles[i : i + 4] for i in range(0, len(tiles) - 3, 4)]
    n, fp, split = _false_positive_rate(sets, tmp_path)
    print(f"real-image collages: {n}, read as composite with an input: {fp} ({fp / n:.3f}), "
          f"split into every cell: {split} ({split / n:.3f})")
    assert fp / n <= 0.05


def test_before_after_composites_are_still_found(tmp_path: Path) -> None:
    found = 0
    for k in range(8):
        before = photo(300 + k, 200, 200)
        after = shifted(before, (30, 15, -25))
        path = save(side_by_side(before, after, gap=6), tmp_path / f"ba{k}.png")
        got = _read_as(path, EDIT_PROMPT)
        found += got["inputs"] == 1 and got["outputs"] == 1 and got["kind"] == "pair"
    assert found == 8


def test_grid_cells_are_the_tiles(tmp_path: Path) -> None:
    tiles = [photo(400 + j) for j in range(4)]
    f = pixels.features(save(collage(tiles, 2, 8), tmp_path / "g.png"), S)
    assert f.grid is not None and f.grid.shape == (2, 2) and f.grid.clean
    boxes = f.grid.boxes()
    assert len(boxes) == 4
    assert boxes[0][0] == 0 and abs(boxes[0][2] - 200 / 408) < 0.02 and abs(boxes[3][1] - 208 / 408) < 0.02
    assert pixels.features(save(photo(9, 320, 240), tmp_path / "one.png"), S).grid is None


@pytest.mark.parametrize("band", [(0.70, 0.71), (0.25, 0.34), (0.62, 0.66)])
def test_a_single_picture_with_a_uniform_band_or_edge_is_not_a_grid(tmp_path: Path, band) -> None:
    # A horizon, a wall or a flat strip crossing the whole picture off-centre is no cut between
    # pictures (the embedded sample's single images were split as grids: 66 of its Benchmark samples).
    img = photo(5, 320, 320).copy()
    y0, y1 = round(band[0] * 320), round(band[1] * 320)
    img.paste((128, 140, 150), (0, y0, 320, max(y1, y0 + 1)))
    lower = img.crop((0, y1, 320, 320)).point(lambda v: min(255, v + 60))  # a straight edge below the band
    img.paste(lower, (0, y1))
    assert pixels.features(save(img, tmp_path / "single.png"), S).grid is None
