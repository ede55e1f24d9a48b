"""Time of an up-to-date `dvc repro` (target: under 10 s on the 2-core machine).

Run after a complete `make repro` in the repository root:
    .venv/bin/python benchmarks/dvc_uptodate.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    status = subprocess.run([str(BIN / "dvc"), "status"], capture_output=True, text=True)
    if "up to date" not in status.stdout:
        sys.exit("run `make repro` first: the pipeline is not up to date\n" + status.stdout)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        proc = subprocess.run([str(BIN / "dvc"), "repro"], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0 or "Running stage" in proc.stdout:
            sys.exit("dvc repro was not a no-op:\n" + proc.stdout + proc.stderr)
    print(f"up-to-date dvc repro: median {statistics.median(times):.2f} s over {len(times)} runs "
          f"(min {min(times):.2f}, max {max(times):.2f}); target < 10 s")


if __name__ == "__main__":
    main()
