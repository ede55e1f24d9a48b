"""Fixtures of the metrics tests: procedural images, the two real face photos, rendered text."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from echo_bench.metrics import controls


@pytest.fixture(scope="session")
def scenes() -> list[np.ndarray]:
    return [controls.scene((320, 256), seed) for seed in range(3)]


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))


@pytest.fixture(scope="session")
def dejavu() -> str:
    import matplotlib.font_manager as fm

    return fm.findfont(fm.FontProperties(family="DejaVu Sans"), fallback_to_default=False)


@pytest.fixture(scope="session")
def render_text(dejavu):
    return lambda lines, **kw: _render_text(lines, dejavu, **kw)


def _render_text(lines: list[str], font_path: str, *, size: int = 44, width: int = 900) -> np.ndarray:
    """Dark text on a light background, one line per entry (DejaVu Sans, shipped by matplotlib)."""
    font = ImageFont.truetype(font_path, size)
    img = Image.new("RGB", (width, 40 + int(size * 2.2) * len(lines)), (250, 245, 235))
    d = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        d.text((30, 30 + int(size * 2.2) * i), line, fill=(20, 20, 60), font=font)
    return np.asarray(img)


@pytest.fixture
def text_judge_cleanup():
    """Unregister the run-time ``text_judge`` template after the test (unless the package ships one)."""
    from echo_bench import prompts

    shipped = "text_judge" in prompts.available()
    yield
    if not shipped:
        prompts.unregister("text_judge")
