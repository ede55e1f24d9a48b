"""Throughput of the metrics at 1024x1024: images per second, batched vs a naive loop.

For every metric the batched library path is timed against a naive
one-image-at-a-time loop in the same run, on the same procedural images
(:mod:`echo_bench.metrics.controls`; an input and its colour-cast output per pair):

- color_shift: torch ``bincount`` histograms, batched on the device, vs ``np.histogram``
  per image and channel (the reference's way);
- color, all (what the stage computes per pair: histograms of input and output, kornia
  Lab + torch CIEDE2000 on the 256x256 working grid), batched, vs ``np.histogram`` +
  scikit-image ``rgb2lab`` + ``deltaE_ciede2000`` per pair;
- structure (offline patch self-similarity, and DINO ViT-S/16 with random weights:
  the same compute as the real checkpoint): batched vs batch size 1;
- face_identity (dlib, CPU) and text_accuracy (rapidocr): per image only (no batched path).

"images/s" counts output images (one input/output pair each), wall clock; "cpu-ms/img"
is this process's CPU time per image (all threads), which a loaded, shared machine
disturbs less than the wall clock.  Run:

    .venv/bin/python benchmarks/metrics_throughput.py [--n 16] [--device auto|cpu|cuda] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from echo_bench.metrics import color, controls
from echo_bench.metrics.device import describe, resolve_batch_size, resolve_device
from echo_bench.metrics.structure import StructureDistance, DinoViTS16


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_pair(batched: Callable[[], object], naive: Callable[[], object] | None, device: torch.device,
               repeat: int = 1) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """(best wall s, process CPU s of the best-wall run) of each, alternating the two runs
    ``repeat`` times after one warm-up each, so a change of machine load hits both alike."""
    best: list[tuple[float, float]] = [(float("inf"), 0.0), (float("inf"), 0.0)]
    fns = [batched] if naive is None else [batched, naive]
    for fn in fns:
        fn()
        _sync(device)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            c, t = time.process_time(), time.perf_counter()
            fn()
            _sync(device)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            if wall < best[i][0]:
                best[i] = (wall, cpu)
    return best[0], (best[1] if naive is not None else None)


def naive_color_pairs(ins: list[np.ndarray], outs: list[np.ndarray], size: int = 256) -> list[float]:
    """What ``measure_pairs`` computes, one pair at a time with numpy/scikit-image."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    res = []
    for a, b in zip(ins, outs, strict=True):
        color.naive_channel_histograms([a, b])
        la = rgb2lab(np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BILINEAR)))
        lb = rgb2lab(np.asarray(Image.fromarray(b).resize((size, size), Image.Resampling.BILINEAR)))
        res.append(float(deltaE_ciede2000(la.mean((0, 1)), lb.mean((0, 1)))))
        res.append(float(deltaE_ciede2000(la, lb).mean()))
    return res


def text_image(size: int) -> np.ndarray:
    import matplotlib.font_manager as fm

    font = ImageFont.truetype(fm.findfont(fm.FontProperties(family="DejaVu Sans")), size // 12)
    img = Image.fromarray(controls.scene(size, 99))
    d = ImageDraw.Draw(img)
    for i, line in enumerate(["GRAND OPENING", "FRESH COFFEE", "OPEN LATE"]):
        d.text((size // 10, size // 5 + i * size // 5), line, fill=(15, 15, 40), font=font)
    return np.asarray(img)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="image pairs per metric")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", default="auto")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip", nargs="*", default=[], help="metrics to skip (dino, face, text, ...)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)

    device = resolve_device(a.device)
    bs = resolve_batch_size(a.batch_size, device, pixels=a.size * a.size)
    print(f"device: {describe(device)}; batch size {bs}; {a.n} pairs of {a.size}x{a.size}; best of {a.repeat}")
    ins = [controls.scene(a.size, seed) for seed in range(a.n)]
    outs = [controls.color_cast(x) for x in ins]
    rows: dict[str, dict] = {}

    def report(name: str, b: tuple[float, float], n: tuple[float, float] | None, note: str = "", k: int = a.n) -> None:
        r = {"images_per_s": k / b[0], "cpu_ms_per_image": 1000 * b[1] / k,
             "naive_images_per_s": k / n[0] if n else None, "naive_cpu_ms_per_image": 1000 * n[1] / k if n else None}
        r["speedup"] = n[0] / b[0] if n else None
        r["cpu_ratio"] = n[1] / b[1] if n and b[1] > 0 else None
        rows[name] = r
        fmt = lambda x, w=8: f"{x:{w}.2f}" if x is not None else f"{'n/a':>{w}}"  # noqa: E731
        fmt0 = lambda x: f"{x:7.0f}" if x is not None else f"{'n/a':>7}"  # noqa: E731
        print(f"{name:27s} batched {fmt(r['images_per_s'])} img/s {fmt0(r['cpu_ms_per_image'])} cpu-ms/img | "
              f"naive {fmt(r['naive_images_per_s'])} img/s {fmt0(r['naive_cpu_ms_per_image'])} cpu-ms/img | "
              f"batched/naive {fmt(r['speedup'], 5)}x wall, {fmt(r['cpu_ratio'], 5)}x cpu {note}")

    # color shift: histograms
    b, n = timed_pair(lambda: color.channel_histograms(outs, device=device, batch_size=bs),
                      lambda: color.naive_channel_histograms(outs), device, a.repeat)
    np.testing.assert_array_equal(color.channel_histograms(outs[:2], device=device),
                                  color.naive_channel_histograms(outs[:2]))
    report("color_shift (histograms)", b, n, "[torch bincount vs np.histogram]")

    # colour: the whole per-pair measurement (histograms of both + Lab + CIEDE2000)
    pairs_in = [[x] for x in ins]
    b, n = timed_pair(lambda: color.measure_pairs(pairs_in, outs, device=device, batch_size=bs),
                      lambda: naive_color_pairs(ins, outs), device, a.repeat)
    report("color, all (hist+Lab+dE00)", b, n, "[torch/kornia vs numpy+skimage per pair]")

    # structure, offline
    sd = StructureDistance("offline", device=device)
    b, n = timed_pair(lambda: sd.distances(ins, outs, batch_size=bs),
                      lambda: [sd.distances([x], [y], batch_size=1) for x, y in zip(ins, outs)], device, a.repeat)
    report("structure (offline)", b, n, "[batch vs one pair at a time]")

    if "dino" not in a.skip:
        sdd = StructureDistance.__new__(StructureDistance)
        sdd.device, sdd.size, sdd.backend, sdd.name = device, 224, "dino", "dino-vits16-keys (random weights)"
        sdd.model = DinoViTS16().eval().to(device)
        b, n = timed_pair(lambda: sdd.distances(ins, outs, batch_size=bs),
                          lambda: [sdd.distances([x], [y], batch_size=1) for x, y in zip(ins, outs)], device,
                          max(1, a.repeat - 1))
        report("structure (DINO ViT-S/16)", b, n, "[random weights, same compute]")

    if "face" not in a.skip:
        from skimage import data

        from echo_bench.metrics.face import face_identity, make_face_embedder

        emb = make_face_embedder("dlib", det_size=640)
        astro = np.asarray(Image.fromarray(data.astronaut()).resize((a.size, a.size), Image.Resampling.BICUBIC))
        cast = controls.color_cast(astro)
        k = max(2, min(a.n, 8))
        b, _ = timed_pair(lambda: [face_identity(astro, cast, emb) for _ in range(k)], None, device, 1)
        report("face_identity (dlib, CPU)", b, None, "[pairs: detect + embed both images; no batched path]", k)

    if "text" not in a.skip:
        from echo_bench.metrics.text import OcrReader

        ocr = OcrReader()
        timg = text_image(a.size)
        k = max(2, min(a.n, 6))
        b, _ = timed_pair(lambda: [ocr.read(timg) for _ in range(k)], None, device, 1)
        read = " | ".join(x.text for x in ocr.read(timg))
        report("text_accuracy (rapidocr)", b, None, f"[onnxruntime CPU; read: {read}]", k)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"load average (1 min) after the run: {load}")
    out = {"device": describe(device), "batch_size": bs, "n": a.n, "size": a.size, "load_avg_1m": load,
           "metrics": rows}
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2, sort_keys=True)
    return out


if __name__ == "__main__":
    main()
