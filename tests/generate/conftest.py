"""Fixtures of the generation tests: a tiny repository with media files and benchmark splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from echo_bench.io import write_parquet
from echo_bench.schemas import SAMPLES
from gen_helpers import T2I_PROMPTS, sample_row, samples_frame, store_media


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))


@pytest.fixture()
def mini_repo(tmp_path: Path, astronaut: np.ndarray, grace_hopper: np.ndarray) -> dict[str, Any]:
    """tmp_path laid out like the repository: media store, split Parquets."""
    root = tmp_path
    a = store_media(root, np.asarray(Image.fromarray(astronaut).resize((256, 256))), "JPEG")
    g = store_media(root, np.asarray(Image.fromarray(grace_hopper).resize((192, 256))), "PNG")
    t2i = [sample_row(sid, "text_to_image", p) for sid, p in T2I_PROMPTS.items()]
    i2i = [
        sample_row("i2i_000", "image_to_image", "Make it look like a Studio Ghibli film still", [a]),
        sample_row("i2i_001", "image_to_image", 'Add the caption "Hello Moon" at the bottom', [g]),
        sample_row("i2i_002", "image_to_image", "Put the person from the first photo into the second", [g, a]),
    ]
    splits = root / "data/splits"
    write_parquet(samples_frame(t2i), splits / "text_to_image.parquet", SAMPLES)
    write_parquet(samples_frame(i2i), splits / "image_to_image.parquet", SAMPLES)
    return {"root": root, "astronaut": a, "grace": g, "splits": splits}


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    """The controls work on small images: one torch thread is faster, and immune to a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
