"""Stage logs: what each stage read, kept, dropped and why, with counts."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def stage_logger(stage: str, log_path: str | os.PathLike[str] | None = None) -> logging.Logger:
    """A logger that writes to stderr and, when given, to ``log_path``."""
    logger = logging.getLogger(f"echo_bench.{stage}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(fmt)
    logger.addHandler(err)
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_path, mode="w", encoding="utf-8")
        fh.setFormatter(fmt)
        logger.addHandler(fh)
    return logger


def progress(
    items: Iterable[T], logger: logging.Logger, *, total: int | None = None, what: str = "items", every_s: float = 10.0
) -> Iterator[T]:
    """Yield ``items`` and log a progress line at most every ``every_s`` seconds."""
    start = last = time.monotonic()
    n = 0
    for n, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            of = f"/{total}" if total is not None else ""
            logger.info("progress: %d%s %s (%.0f/s)", n, of, what, n / max(now - start, 1e-9))
    logger.info("done: %d %s in %.1fs", n, what, time.monotonic() - start)
