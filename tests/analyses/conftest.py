"""Fixtures of the analyses tests: a synthetic workspace, built and analysed once per module."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from analyses_helpers import build_workspace


@contextlib.contextmanager
def inside(path: Path) -> Iterator[Path]:
    """Run with ``path`` as the working directory (stages read and write repo-relative paths)."""
    old = Path.cwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)


@pytest.fixture()
def workspace(tmp_path: Path) -> Iterator[tuple[Path, dict]]:
    paths = build_workspace(tmp_path)
    with inside(tmp_path):
        yield tmp_path, paths
