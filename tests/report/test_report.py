"""The HTML report: self-contained, and every chart and gallery image renders in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from analyses_helpers import build_workspace, inside, project_params, run_analyses, run_report

from echo_bench.controls import controls_report
from echo_bench.io import write_json
from echo_bench.report.build import render_html

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--mute-audio"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    pytest.skip("chromium is not installed (scripts/setup.sh apt-installs it when run as root)")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    paths = build_workspace(root)
    every = project_params()
    # a controls report of the synthetic table (its models are no controls: every check is skipped, with reasons)
    table = pl.read_csv(root / paths["metrics_table"], infer_schema_length=None)
    rep = controls_report(table, {}, every["controls"], ["identity", "scramble", "color_cast", "typo", "face_swap"])
    write_json(root / "results/controls/report.json", rep.to_dicts())
    paths["controls"] = "results/controls/report.json"
    with inside(root):
        run_analyses(every, paths)
        summary = run_report(every, paths)
    assert summary["gallery_items"] > 0 and summary["images_unreadable"] == 0
    return root / "results/report/index.html"


def test_report_is_self_contained(report):
    html = report.read_text(encoding="utf-8")
    assert "default-src 'none'" in html  # the page may not load anything from anywhere
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=\"(https?:)?//", html)
    assert "<link" not in html and not re.search(r"<script[^>]*\bsrc=", html)
    assert re.search(r"data:image/jpeg;base64,", html)
    assert html.count("</script>") == 2  # the data and the code; no data can close a script early


def test_render_html_escapes_script_breaking_text():
    html = render_html({"title": "<b>x</b>", "note": "</script><script>alert(1)</script>"})
    assert html.count("</script>") == 2 and "&lt;b&gt;" in html


def run_chromium(args: list[str], profile: Path, timeout: int = 90) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_every_chart_and_gallery_image_renders_in_headless_chromium(report, tmp_path):
    url = report.resolve().as_uri()
    dom = run_chromium(["--virtual-time-budget=10000", "--dump-dom", url], tmp_path / "profile1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stdout[:500]
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', body.group(1)))
    assert attrs.get("data-render-done") == "1", attrs
    expected = int(attrs["data-charts-expected"])
    assert expected == 2 + 4 + 6  # win rates per split, the four metrics, controls, volume, word cloud, map, comparison, taxonomy
    assert attrs["data-charts-failed"] == "0" and int(attrs["data-charts-drawn"]) == expected, attrs
    for chart in ("winrate-text_to_image", "metric-color_shift", "controls", "volume", "wordcloud", "embedding", "compare", "taxonomy"):
        assert re.search(rf'data-chart="{chart}"[^>]*data-status="ok"', dom.stdout), chart
    assert int(attrs["data-gallery-items"]) > 0
    assert int(attrs["data-gallery-images"]) == int(attrs["data-gallery-images-expected"]) > 0
    first_item = re.search(r'<div class="gitem".*?</div></div>', dom.stdout, re.S)
    assert first_item and first_item.group(0).count("<img") >= 2  # the community output and the models' outputs
    assert dom.stdout.count("<circle") >= 12  # the embedding map has a point per prompt (hover titles)
    # a screenshot of the rendered page (kept where ECHO_REPORT_SCREENSHOT says, else in the test's temp folder)
    shot = Path(os.environ.get("ECHO_REPORT_SCREENSHOT") or tmp_path / "report.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    res = run_chromium(["--virtual-time-budget=10000", "--window-size=1400,3200", f"--screenshot={shot}", url],
                       tmp_path / "profile2")
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1400, 3200)
        colors = im.convert("RGB").resize((140, 320)).getcolors(maxcolors=1 << 16)
        assert colors is not None and len(colors) > 50  # not a blank page
    print(f"\nreport screenshot: {shot}")
