"""Throughput of the known-answer control models at 1024 x 1024 on this machine's CPU.

    .venv/bin/python benchmarks/controls_throughput.py [--n 8] [--size 1024] [--json out.json]

For each control, two modes: image-to-image (the input is skimage's astronaut
photo scaled to size x size) and text-to-image (a size x size canvas with the
requested text).  Prints images/s of the control alone and of the control plus
the output hygiene (RGB PNG encoding and sha256), which is what the generate
stage does per sample.  face_swap runs dlib's HOG detector when dlib is
importable (on a copy at most detect_max_side = 640 px), else the central ellipse.
The controls run torch single-threaded (controls.torch_threads), as in the stage;
one process runs one (split, model) job, so parallel Snakemake jobs scale this
by the number of cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch
from PIL import Image

from echo_bench.generate import controls as C
from echo_bench.generate.hygiene import SizePolicy, normalize

PROMPT_T2I = 'A vintage poster with the headline "GRAND OPENING SALE" and "50% off everything today"'
PROMPT_I2I = 'Add the caption "Hello Moon" at the bottom'


def bench(fn, n: int) -> float:
    fn()  # warm-up (imports, font cache, dlib detector)
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=8, help="timed images per control and mode")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    from skimage import data

    photo = np.asarray(Image.fromarray(data.astronaut()).resize((a.size, a.size), Image.Resampling.LANCZOS))
    policy = SizePolicy(max_side=a.size)
    print(f"controls throughput, {a.size}x{a.size}, n={a.n}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, torch {torch.__version__} (controls: 1 thread), "
          f"dlib {'yes' if C.dlib_available() else 'no'}")
    print(f"{'control':<12} {'mode':<15} {'images/s':>9} {'+hygiene/s':>11} {'ms/image':>9}")
    rows = []
    for name in C.CONTROLS:
        settings = C.control_settings(name, {"canvas_size": [a.size, a.size]})
        for mode, prompt, inputs in (("image_to_image", PROMPT_I2I, [photo]), ("text_to_image", PROMPT_T2I, [])):
            seed = C.derive_seed(f"bench-{name}", 0)

            def ctrl() -> np.ndarray:
                return C.run_control(name, settings, prompt=prompt, inputs=inputs, seed=seed).image

            def full() -> str:
                return normalize(ctrl(), policy).sha256

            ips, ips_h = bench(ctrl, a.n), bench(full, a.n)
            rows.append({"control": name, "mode": mode, "images_per_s": ips, "with_hygiene_per_s": ips_h})
            print(f"{name:<12} {mode:<15} {ips:>9.2f} {ips_h:>11.2f} {1000 / ips:>9.1f}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"size": a.size, "n": a.n, "load_average": os.getloadavg()[0], "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
