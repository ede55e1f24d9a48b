"""The release end to end, on one workspace built once by `dvc repro` (embedded sample, offline):

- the release the pipeline wrote loads with `datasets.load_dataset("parquet", ...)`: counts, images;
- evaluate-my-model: copies of a released model's outputs score exactly like that model;
- `dvc push` to the local remote and to an S3-compatible server (moto, 127.0.0.1), a fresh
  `git clone` + `dvc pull` gets every file with the same sha256, `dvc get` / `dvc import` the release;
  the same pull over HTTP from a static web server (127.0.0.1) serving the pushed folder;
- a two-point `dvc exp run -S` sweep whose `dvc exp show` differs in the swept numbers.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from pathlib import Path

import polars as pl
import pytest
from release_helpers import GIT, S3_ENV, commit_all, copy_tree, data_hashes, moto_s3, sh

pytestmark = pytest.mark.slow

SPLITS = ("analysis", "text_to_image", "image_to_image")
SWEPT = "judge.offline.signals.text_accuracy.weight"


@pytest.fixture(scope="module")
def built(repo_root: Path, tmp_path_factory) -> Path:
    ws = copy_tree(repo_root, tmp_path_factory.mktemp("release_ws"))
    sh(["dvc", "repro"], ws)
    commit_all(ws, "built")
    return ws


def test_pipeline_release_loads_with_datasets(built: Path, tmp_path: Path):
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    rel = built / "data/release"
    info = json.loads((rel / "release.json").read_text())
    expected = {s: pl.read_parquet(built / f"data/splits/{s}.parquet").height for s in SPLITS}
    assert info["counts"]["samples"] == expected
    assert all(n > 0 for n in expected.values())
    metrics = json.loads((built / "results/release/metrics.json").read_text())
    assert metrics["samples"] == expected
    ds = datasets.load_dataset("parquet", data_files={s: str(rel / f"samples/{s}.parquet") for s in SPLITS},
                               cache_dir=str(tmp_path / "hf"))
    assert {s: ds[s].num_rows for s in SPLITS} == expected
    # every input image of the image_to_image split decodes, and is byte for byte the pipeline's file
    raw = pl.read_parquet(rel / "samples/image_to_image.parquet")
    source = pl.read_parquet(built / "data/splits/image_to_image.parquet").sort("sample_id")
    n = 0
    for row, src in zip(raw.iter_rows(named=True), source.iter_rows(named=True)):
        assert row["sample_id"] == src["sample_id"]
        assert len(row["input_images"]) == len(src["input_images"]) >= 1
        for img, path in zip(row["input_images"], src["input_images"]):
            assert img["bytes"] == (built / path).read_bytes()
            n += 1
    assert n >= expected["image_to_image"]
    first = ds["image_to_image"][0]["input_images"][0]
    assert isinstance(first, Image.Image) and first.size[0] > 0
    assert first.size == Image.open(io.BytesIO(raw["input_images"][0][0]["bytes"])).size
    card = (rel / "README.md").read_text()
    assert "offline heuristic" in card and "control model" in card


def test_evaluate_my_model_matches_the_model_it_copies(built: Path, tmp_path: Path):
    before = data_hashes(built)
    mine = tmp_path / "mine"
    dropped = None
    for split in ("text_to_image", "image_to_image"):
        src = sorted((built / "data/generated" / split / "identity").glob("*.png"))
        (mine / split).mkdir(parents=True)
        for p in src:
            (mine / split / p.name).write_bytes(p.read_bytes())
        if split == "text_to_image":
            dropped = src[0].stem
            (mine / split / src[0].name).unlink()
    out = tmp_path / "eval"
    proc = sh(["echo-bench", "evaluate", "--release", str(built / "data/release"), "--outputs", str(mine),
               "--name", "mine", "--out", str(out)], tmp_path)
    assert '"win_rate"' in proc.stdout
    summary = json.loads((out / "evaluation.json").read_text())
    i2i, t2i = summary["splits"]["image_to_image"], summary["splits"]["text_to_image"]
    # image_to_image: identical files -> identical judgments and metrics -> the same win rate as identity
    assert i2i["status"]["ok"] == pl.read_parquet(built / "data/splits/image_to_image.parquet").height
    new_j = pl.read_parquet(out / "image_to_image/judgments.parquet")
    old_j = pl.read_parquet(built / "data/judge/judgments/image_to_image.parquet").filter(pl.col("model") == "identity")
    joined = new_j.join(old_j, on=["sample_id", "judge", "repeat"], suffix="_released")
    assert joined.height == old_j.height > 0
    assert joined["score"].to_list() == joined["score_released"].to_list()
    assert i2i["win_rate"] == i2i["win_rates"]["identity"]
    released = {r["metric"]: r["value"] for r in json.loads((built / "results/metrics/table.json").read_text())
                if r["split"] == "image_to_image" and r["model"] == "identity"}
    for metric, value in i2i["metrics"].items():
        if value is not None:
            assert value == pytest.approx(released[metric], abs=1e-9), metric
    # text_to_image: one file missing -> that sample is a loss, so strictly below identity
    assert t2i["status"]["missing"] == 1
    assert t2i["win_rate"] < t2i["win_rates"]["identity"]
    gens = pl.read_parquet(out / "text_to_image/generations.parquet")
    assert gens.filter(pl.col("sample_id") == dropped)["status"].to_list() == ["missing"]
    # nothing of the pipeline's data was touched (no curation, no regeneration)
    assert data_hashes(built) == before
    assert sh(["echo-bench", "verify-release", str(built / "data/release")], tmp_path).returncode == 0


def _clone_and_pull(ws: Path, dest: Path, *pull_args: str, setup: list[list[str]] = (), **env: str) -> Path:
    sh(["git", "clone", "-q", str(ws), str(dest)], ws.parent)
    for cmd in setup:
        sh(cmd, dest, **env)
    sh(["dvc", "pull", *pull_args], dest, **env)
    return dest


def test_local_remote_push_fresh_clone_pull(built: Path, tmp_path: Path):
    sh(["dvc", "push", "-r", "local"], built)
    storage = built / "dvc-storage"
    assert storage.is_dir() and any(storage.rglob("*"))
    clone = _clone_and_pull(built, tmp_path / "clone", "-r", "local",
                            setup=[["dvc", "remote", "modify", "--local", "local", "url", str(storage)]])
    want, got = data_hashes(built), data_hashes(clone)
    assert len(want) > 100
    assert got == want
    assert "up to date" in sh(["dvc", "status"], clone).stdout


def test_http_remote_fresh_clone_pulls_over_http(built: Path, tmp_path: Path):
    """A consumer reads the pushed remote through a static web server (GET only), as docs/remotes.md says."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    sh(["dvc", "push", "-r", "local"], built)
    storage = built / "dvc-storage"

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

    requests: list[str] = []

    class Counting(Quiet):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Counting, directory=str(storage)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        clone = _clone_and_pull(built, tmp_path / "clone", "-r", "web",
                                setup=[["dvc", "remote", "add", "--local", "web", url]])
    finally:
        server.shutdown()
        server.server_close()
    assert requests, "the pull never reached the HTTP server"
    want, got = data_hashes(built), data_hashes(clone)
    assert len(want) > 100
    assert got == want


def test_s3_remote_push_fresh_clone_pull_get_import(built: Path, tmp_path: Path):
    boto3 = pytest.importorskip("boto3")
    with moto_s3(tmp_path) as url:
        boto3.client("s3", endpoint_url=url, **{k.lower(): v for k, v in S3_ENV.items()
                                                if k != "AWS_DEFAULT_REGION"}, region_name="us-east-1"
                     ).create_bucket(Bucket="echo-bench")
        sh(["dvc", "remote", "add", "s3", "s3://echo-bench/dvcstore"], built)
        sh(["dvc", "remote", "modify", "s3", "endpointurl", url], built)
        sh([*GIT, "commit", "-qm", "s3 remote", ".dvc/config"], built)
        sh(["dvc", "push", "-r", "s3"], built, **S3_ENV)
        clone = _clone_and_pull(built, tmp_path / "clone", "-r", "s3", **S3_ENV)
        want = data_hashes(built)
        assert data_hashes(clone) == want
        assert "up to date" in sh(["dvc", "status"], clone).stdout
        release_want = {k.removeprefix("data/release/"): v for k, v in want.items() if k.startswith("data/release/")}
        assert "release.json" in release_want
        # just the release: dvc get (no git repo needed) and dvc import (tracked in the consumer's repo)
        sh(["dvc", "get", str(built), "data/release", "-o", str(tmp_path / "got"), "--remote", "s3"],
           tmp_path, **S3_ENV)
        assert data_hashes(tmp_path, "got") == {f"got/{k}": v for k, v in release_want.items()}
        consumer = tmp_path / "consumer"
        consumer.mkdir()
        sh(["git", "init", "-q"], consumer)
        sh(["dvc", "init", "-q"], consumer)
        sh(["dvc", "import", str(built), "data/release", "-o", "echo", "--remote", "s3"], consumer, **S3_ENV)
        assert (consumer / "echo.dvc").is_file()
        assert data_hashes(consumer, "echo") == {f"echo/{k}": v for k, v in release_want.items()}


def _exp_records(doc) -> dict[str, dict]:
    """{experiment name: its data dict} from `dvc exp show --json` (any nesting)."""
    found: dict[str, dict] = {}

    def walk(node):
        if isinstance(node, dict):
            if node.get("name") and isinstance(node.get("data"), dict):
                found[node["name"]] = node["data"]
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return found


def _metric(data: dict, path: str) -> dict:
    return data["metrics"][path]["data"]


def test_two_point_sweep_exp_show_differs(built: Path):
    sh(["dvc", "exp", "run", "-n", "text-w0", "-S", f"{SWEPT}=0.0"], built)
    sh(["dvc", "exp", "run", "-n", "text-w6", "-S", f"{SWEPT}=6.0"], built)
    doc = json.loads(sh(["dvc", "exp", "show", "--json"], built).stdout)
    exps = _exp_records(doc)
    assert {"text-w0", "text-w6"} <= set(exps), sorted(exps)
    w0, w6 = exps["text-w0"], exps["text-w6"]
    p0 = w0["params"]["params.yaml"]["data"]["judge"]["offline"]["signals"]["text_accuracy"]["weight"]
    p6 = w6["params"]["params.yaml"]["data"]["judge"]["offline"]["signals"]["text_accuracy"]["weight"]
    assert (p0, p6) == (0.0, 6.0)
    r0, r6 = _metric(w0, "results/release/metrics.json"), _metric(w6, "results/release/metrics.json")
    # the split sizes are listed and, with a judge knob, equal; the swept win rates differ
    assert r0["samples"] == r6["samples"] and r0["samples"]["text_to_image"] > 0
    wr0 = r0["headline"]["text_to_image"]["win_rate"]
    wr6 = r6["headline"]["text_to_image"]["win_rate"]
    assert wr0 != wr6
    assert r0["headline"]["text_to_image"]["prompts"] == r0["samples"]["text_to_image"]
    j0 = _metric(w0, "results/metrics/winrates.json")["text_to_image"]["win_rate"]
    assert j0 == wr0
    table = sh(["dvc", "exp", "show", "--no-pager", "--csv"], built).stdout
    assert "text-w0" in table and "text-w6" in table and "samples.text_to_image" in table
    subprocess.run(["git", "checkout", "--", "params.yaml"], cwd=built, check=False)
