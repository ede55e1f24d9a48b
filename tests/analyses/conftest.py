"""Fixtures of the analyses tests: a synthetic workspace (analyses_helpers.build_workspace)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from analyses_helpers import build_workspace, inside


@pytest.fixture()
def workspace(tmp_path: Path) -> Iterator[tuple[Path, dict]]:
    paths = build_workspace(tmp_path)
    with inside(tmp_path):
        yield tmp_path, paths
