"""Shared fixtures: paths of the repository and of the shared test corpora."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECHO_SHARED", REPO.parent / "shared"))
CORPORA = SHARED / "corpora"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def gpt4o_corpus() -> Path:
    path = CORPORA / "awesome-gpt4o-images"
    if not (path / "truth.jsonl").exists():
        pytest.skip(f"shared corpus not found at {path} (set ECHO_SHARED to the shared/ folder)")
    return path


@pytest.fixture(scope="session")
def prior_benchmarks() -> Path:
    path = CORPORA / "prior-benchmarks"
    if not path.exists():
        pytest.skip(f"prior-benchmark prompts not found at {path}")
    return path
