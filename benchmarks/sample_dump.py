"""Time a sample dump generation and print its figures.

    .venv/bin/python benchmarks/sample_dump.py [--params params.yaml] [--n-threads N] [--twice]

Uses the ``sample`` section of the params file when it has one, else the
SampleConfig defaults.  ``--twice`` generates a second copy and checks that the
two are byte-identical.
"""

from __future__ import annotations

import argparse
import dataclasses
import filecmp
import logging
import tempfile
import time
from pathlib import Path

from echo_bench import params as params_mod
from echo_bench.sample import SampleConfig, write_dump


def folder_bytes(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def same_tree(a: Path, b: Path) -> bool:
    names_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    names_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    return names_a == names_b and all(filecmp.cmp(a / n, b / n, shallow=False) for n in names_a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--n-threads", type=int)
    ap.add_argument("--twice", action="store_true")
    a = ap.parse_args()
    path = Path(a.params)
    cfg = (
        SampleConfig.from_params(params_mod.load(path))
        if path.exists() and "sample" in params_mod.load(path)
        else SampleConfig()
    )
    if a.n_threads:
        cfg = dataclasses.replace(cfg, n_threads=a.n_threads)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        summary = write_dump(cfg, Path(tmp) / "dump")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n_files, n_bytes = folder_bytes(Path(tmp) / "dump")
        source = "params" if path.exists() else "defaults"
        print(f"config: {cfg.n_threads} threads, {cfg.image_size} px, seed {cfg.seed} (from {source})")
        print(f"time: {wall:.2f} s wall, {cpu:.2f} s CPU")
        print(f"dump: {n_files} files, {n_bytes / 1e6:.2f} MB, {summary['images']} images")
        print(f"records: {summary['records']} on {summary['pages']} pages")
        print(f"kinds: {summary['kinds']}")
        print(f"bad records: {summary['bad_records']}")
        if a.twice:
            write_dump(cfg, Path(tmp) / "again")
            print(f"byte-identical on a second run: {same_tree(Path(tmp) / 'dump', Path(tmp) / 'again')}")


if __name__ == "__main__":
    main()
