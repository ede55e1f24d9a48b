"""paper/main.tex compiles with the pipeline's tables and figures (when a TeX installation is present)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from analyses_helpers import REPO, build_workspace, inside, project_params, run_analyses, run_paper


def test_main_tex_builds_with_latexmk(tmp_path):
    if shutil.which("latexmk") is None or shutil.which("pdflatex") is None:
        pytest.skip("no TeX installation (latexmk, pdflatex): `make paper` only regenerates the tables and figures")
    paths = build_workspace(tmp_path)
    every = project_params()
    with inside(tmp_path):
        run_analyses(every, paths)
        run_paper(every, paths)
    shutil.copy(REPO / "paper" / "main.tex", tmp_path / "paper" / "main.tex")
    res = subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "main.tex"],
                         cwd=tmp_path / "paper", capture_output=True, text=True, timeout=240, check=False)
    assert res.returncode == 0, res.stdout[-3000:]
    pdf = tmp_path / "paper" / "main.pdf"
    assert pdf.is_file() and pdf.stat().st_size > 20_000
    log = (tmp_path / "paper" / "main.log").read_text(encoding="latin-1")
    too_wide = [float(x) for x in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert all(w < 15 for w in too_wide), too_wide  # every table fits the text width
    assert "Undefined control sequence" not in log and "LaTeX Warning: Reference" not in log
