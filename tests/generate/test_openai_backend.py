"""The OpenAI Images backends through the real openai SDK against a loopback server.

The server is the project's API stub (echo_bench.testing.api_stub) with the image
routes of echo_bench.testing.image_routes registered: 127.0.0.1, port 0, started
by each test and stopped when it ends.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from echo_bench.generate.backends import BackendConfigError, GenRequest, make_backend
from echo_bench.generate.hygiene import decode_rgb
from echo_bench.io import read_parquet, sha256_file
from echo_bench.schemas import GENERATIONS
from echo_bench.stages import generate as stage
from echo_bench.testing.api_stub import APIStub, Fault
from echo_bench.testing.image_routes import ImageRoutes, prompt_image
from gen_helpers import GENERATE_PARAMS, stage_params

LOG = logging.getLogger("test.generate.openai")
GEN = "POST /v1/images/generations"
EDIT = "POST /v1/images/edits"


@pytest.fixture()
def server():
    routes = ImageRoutes(refuse=lambda p: "FORBIDDEN" in p, hang=lambda p: "HANG" in p, hang_s=10.0)
    stub = APIStub(routes=routes.routes()).start()
    try:
        yield stub, routes
    finally:
        routes.release()
        stub.stop()


def _params(stub, *, kind="openai", **over):
    entry = {"backend": kind, "model": "gpt-image-1", "base_url": stub.openai_base_url, "api_key_env": "ECHO_TEST_IMAGES_KEY",
             "request": {"size": "48x32", "quality": "low", "output_format": "jpeg"}, "price_per_image": 0.011, **over}
    gen = json.loads(json.dumps(GENERATE_PARAMS))
    gen["call"] = {"timeout_s": 1.0, "max_retries": 0, "concurrency": 2}
    gen["models"] = {"gpt_image": entry}
    return gen


def _run(root: Path, split: str, gen, *, cache=True):
    outputs = {"manifest": str(root / f"data/generated/{split}/gpt_image.parquet"),
               "images": str(root / f"data/generated/{split}/gpt_image")}
    if cache:
        outputs["cache"] = str(root / "data/cache/generate/gpt_image")
    summary = stage.run({"samples": str(root / f"data/splits/{split}.parquet")}, outputs,
                        stage_params(split, "gpt_image", gen), LOG)
    return read_parquet(outputs["manifest"], GENERATIONS), summary


@pytest.fixture()
def api_key(monkeypatch):
    monkeypatch.setenv("ECHO_TEST_IMAGES_KEY", "sk-test-not-a-secret")


def test_text_to_image_through_the_sdk(mini_repo, monkeypatch, server, api_key):
    stub, routes = server
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    df, summary = _run(root, "text_to_image", _params(stub))
    assert df["status"].to_list() == ["ok"] * 3 and stub.hits[GEN] == 3 and stub.hits[EDIT] == 0
    samples = read_parquet(root / "data/splits/text_to_image.parquet")
    assert sorted(r["prompt"] for r in routes.requests) == sorted(samples["prompt"])
    for r in df.iter_rows(named=True):
        assert r["backend"] == "openai" and r["cost_usd"] == pytest.approx(0.011) and r["latency_s"] > 0
        assert r["seed"] is None  # the OpenAI Images API takes no seed
        png = (root / r["output_image"]).read_bytes()
        assert png.startswith(b"\x89PNG") and b"echo-bench image stub" not in png  # the stub's JPEG EXIF is gone
        assert sha256_file(root / r["output_image"]) == r["sha256"]
        settings = json.loads(r["settings"])
        assert settings["api_model"] == "gpt-image-1" and settings["request"]["size"] == "48x32"
        assert settings["api_key_env"] == "ECHO_TEST_IMAGES_KEY" and "sk-test" not in r["settings"]
        assert settings["info"]["endpoint"] == "generations"
    for req in routes.requests:
        assert req["model"] == "gpt-image-1" and req["fields"]["size"] == "48x32" and req["fields"]["quality"] == "low"
    # the picture is the one the server made for that prompt (JPEG-compressed, so approximately)
    prompt = samples.filter(samples["sample_id"] == "t2i_001")["prompt"][0]
    got = decode_rgb(root / df.filter(df["sample_id"] == "t2i_001")["output_image"][0]).astype(int)
    want = np.asarray(prompt_image(prompt, (48, 32))).astype(int)
    assert got.shape == want.shape and np.abs(got - want).mean() < 3
    assert summary["spent_usd"] == pytest.approx(0.033) and summary["cache_misses"] == 3


def test_image_to_image_uses_edits_with_the_input_images(mini_repo, monkeypatch, server, api_key):
    stub, routes = server
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    df, _ = _run(root, "image_to_image", _params(stub, request={"size": "1024x1024", "input_fidelity": "high"}))
    assert df["status"].to_list() == ["ok"] * 3 and stub.hits[EDIT] == 3 and stub.hits[GEN] == 0
    by_prompt = {r["prompt"]: r for r in routes.requests}
    two = by_prompt["Put the person from the first photo into the second"]
    assert len(two["images"]) == 2 and two["fields"]["input_fidelity"] == "high"
    for data in two["images"]:
        assert Image.open(io.BytesIO(data)).format == "PNG"  # input_format png: lossless re-encoding
    # the stub answers an edit with the first uploaded image: the first input's pixels come back exactly
    out = df.filter(df["sample_id"] == "i2i_002")["output_image"][0]
    assert np.array_equal(decode_rgb(root / out), decode_rgb(root / mini_repo["grace"]))
    out0 = df.filter(df["sample_id"] == "i2i_000")["output_image"][0]
    assert np.array_equal(decode_rgb(root / out0), decode_rgb(root / mini_repo["astronaut"]))


def test_refusal_timeout_and_errors_are_recorded_per_sample(mini_repo, monkeypatch, server, api_key):
    stub, routes = server
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    backend = make_backend("gpt_image", _params(stub)["models"]["gpt_image"], split="text_to_image",
                           call={"timeout_s": 0.5, "max_retries": 0})
    refused = backend.generate(GenRequest("t", "s1", "a FORBIDDEN picture", [], [], 1))
    assert refused.status == "refused" and refused.image is None and refused.cost_usd == 0.0
    assert refused.reason.startswith("content_policy_violation: Your request was rejected")
    timed = backend.generate(GenRequest("t", "s2", "HANG on", [], [], 1))
    assert timed.status == "timeout" and "0.5s" in timed.reason and 0.4 < timed.latency_s < 5
    stub.inject(Fault.server_error(503, route=GEN))
    failed = backend.generate(GenRequest("t", "s3", "fine", [], [], 1))
    assert failed.status == "failed" and failed.reason.startswith("http_503")
    stub.inject(Fault.status_code(400, route=GEN))
    bad = backend.generate(GenRequest("t", "s4", "fine", [], [], 1))
    assert bad.status == "failed" and bad.reason.startswith("http_400")  # a 400 that is not a refusal
    stub.inject(Fault.malformed(route=GEN))
    assert backend.generate(GenRequest("t", "s5", "fine", [], [], 1)).status == "failed"
    ok = backend.generate(GenRequest("t", "s6", "fine", [], [], 1))
    assert ok.status == "ok"


def test_stage_with_refusal_and_timeout_then_cached_rerun_spends_nothing(mini_repo, monkeypatch, server, api_key):
    stub, routes = server
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    from gen_helpers import sample_row, samples_frame
    from echo_bench.io import write_parquet
    from echo_bench.schemas import SAMPLES

    rows = [sample_row("a", "text_to_image", "a red fox"), sample_row("b", "text_to_image", "a FORBIDDEN scene"),
            sample_row("c", "text_to_image", "HANG forever"), sample_row("d", "text_to_image", 'a sign "OPEN"')]
    write_parquet(samples_frame(rows), root / "data/splits/text_to_image.parquet", SAMPLES)
    gen = _params(stub, timeout_s=0.5)
    df, summary = _run(root, "text_to_image", gen)
    status = dict(zip(df["sample_id"], df["status"]))
    assert status == {"a": "ok", "b": "refused", "c": "timeout", "d": "ok"}
    assert df.filter(df["status"] != "ok")["output_image"].null_count() == 2
    assert sorted(p.name for p in (root / "data/generated/text_to_image/gpt_image").iterdir()) == ["a.png", "d.png"]
    assert summary["status_refused"] == 1 and summary["status_timeout"] == 1 and summary["spent_usd"] == pytest.approx(0.022)

    hits_before = stub.hits[GEN]
    df2, summary2 = _run(root, "text_to_image", gen)
    # ok outputs come from the cache (no call); refusals and timeouts are asked again (never cached)
    assert stub.hits[GEN] - hits_before == 2
    assert summary2["cache_hits"] == 2 and summary2["spent_usd"] == 0.0
    assert dict(zip(df2["sample_id"], df2["status"])) == status
    ok_rows = lambda d: d.filter(d["status"] == "ok").drop("latency_s")  # noqa: E731
    assert ok_rows(df2).equals(ok_rows(df))
    assert df2.filter(df2["status"] == "ok")["latency_s"].to_list() == df.filter(df["status"] == "ok")["latency_s"].to_list()
    # with everything answerable from the cache, no key is needed and the manifest bytes repeat
    rows2 = [r for r in rows if r["sample_id"] in ("a", "d")]
    write_parquet(samples_frame(rows2), root / "data/splits/text_to_image.parquet", SAMPLES)
    monkeypatch.delenv("ECHO_TEST_IMAGES_KEY")
    df3, summary3 = _run(root, "text_to_image", gen)
    assert summary3["cache_hits"] == 2 and not summary3["backend_prepared"] and df3["status"].to_list() == ["ok", "ok"]
    manifest = root / "data/generated/text_to_image/gpt_image.parquet"
    before = manifest.read_bytes()
    again, _ = _run(root, "text_to_image", gen)
    assert manifest.read_bytes() == before and again.equals(df3)


def test_missing_api_key_is_a_clear_error(mini_repo, monkeypatch, server):
    stub, _ = server
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    monkeypatch.delenv("ECHO_TEST_IMAGES_KEY", raising=False)
    with pytest.raises(BackendConfigError, match="ECHO_TEST_IMAGES_KEY is not set"):
        _run(root, "text_to_image", _params(stub))
    assert stub.hits[GEN] == 0


def test_openai_compatible_server_with_urls_and_seed(mini_repo, monkeypatch, server):
    stub, routes = server
    root = mini_repo["root"]
    monkeypatch.chdir(root)
    gen = _params(stub, kind="openai_compatible", model="flux-dev", api_key_env=None, send_seed=True,
                  request={"size": "40x40", "response_format": "url"}, price_per_image=0.0)
    df, _ = _run(root, "text_to_image", gen, cache=False)
    assert df["status"].to_list() == ["ok"] * 3 and df["backend"].to_list() == ["openai_compatible"] * 3
    assert len(routes.files) == 3 and stub.hits["GET /v1/images/files/{name}"] == 3  # fetched by URL
    assert all(r["fields"].get("seed") is not None for r in routes.requests)  # send_seed: extra body field
    assert df["seed"].null_count() == 0
    sent = sorted(int(r["fields"]["seed"]) for r in routes.requests)
    assert sent == sorted(df["seed"].to_list())
    with pytest.raises(BackendConfigError, match="needs `base_url`"):
        make_backend("x", {"backend": "openai_compatible", "model": "m"}, split="s")
    with pytest.raises(BackendConfigError, match="set by the backend"):
        make_backend("x", {"backend": "openai", "model": "m", "request": {"prompt": "p"}}, split="s")
