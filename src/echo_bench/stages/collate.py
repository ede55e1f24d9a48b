"""Collate per-split results into the single files DVC shows as metrics and plots.

inputs:  parts (JSON files, one per split: flat headline numbers), optionally
         plot_parts (CSV files, one per split)
outputs: metrics (one JSON: {split: {...}} keyed by each part's file stem),
         optionally plot_winrates (the CSVs stacked, with a ``split`` column), summary
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from echo_bench.io import paths, read_json, write_json, write_text


def run(inputs, outputs, params, log) -> dict[str, Any]:
    parts = paths(inputs["parts"])
    merged = {Path(p).stem: read_json(p) for p in sorted(parts)}
    write_json(outputs["metrics"], merged)
    rows = 0
    if "plot_parts" in inputs and "plot_winrates" in outputs:
        frames = [pl.read_csv(p).with_columns(pl.lit(Path(p).stem).alias("split")) for p in sorted(paths(inputs["plot_parts"]))]
        table = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame({"split": []})
        rows = table.height
        write_text(outputs["plot_winrates"], table.write_csv())
    log.info("collate: %d parts into %s (%d plot rows)", len(parts), outputs["metrics"], rows)
    return {"parts": len(parts), "plot_rows": rows}
