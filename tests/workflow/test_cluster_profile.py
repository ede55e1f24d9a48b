"""The SLURM profile is valid: a dry run plans every job of the pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def test_slurm_profile_dry_run(repo_root: Path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--profile", "workflow/profiles/slurm", "--dry-run", "--forceall", "all"],
        cwd=repo_root, env=env, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "This was a dry-run" in out
    for rule in ("ingest", "collect", "threads", "provenance"):
        assert rule in out
