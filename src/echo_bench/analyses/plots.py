"""Deterministic matplotlib output: same data, same bytes.

Agg backend, a fixed ``svg.hashsalt``, no creation dates in PDF metadata, no
software tag in PNG metadata, and DejaVu Sans (shipped with matplotlib) so the
glyphs do not depend on the fonts of the machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from echo_bench.io import atomic_path  # noqa: E402

RC: dict[str, Any] = {
    "svg.hashsalt": "echo-bench",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,
    "path.simplify": False,
}

#: Colour of each dataset / series, stable across figures and the HTML report.
PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD"]


@contextlib.contextmanager
def style() -> Iterator[None]:
    with plt.rc_context(RC):
        yield


def save(fig: Any, pdf: str | Path | None, png: str | Path | None, *, dpi: int = 150) -> None:
    """Write ``fig`` as PDF and/or PNG atomically, without timestamps, then close it."""
    try:
        if pdf:
            with atomic_path(pdf) as tmp:
                fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "ModDate": None})
        if png:
            with atomic_path(png) as tmp:
                fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        plt.close(fig)


def font_path() -> str:
    """matplotlib's DejaVuSans.ttf: the font of every figure and of the word-cloud layout."""
    from matplotlib import font_manager

    return font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"), fallback_to_default=True)
