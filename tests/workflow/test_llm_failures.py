"""Failure is failure, as DVC sees it (issue 11): `dvc repro curate` in a temp copy of the repository,
its relevance step on the openai backend against a fault-injecting server on 127.0.0.1.

One workspace runs the stages up to `threads` once; each test then points
`relevance.llm` at its own server (and its own model name, so caches do not
mix) and runs only `dvc repro curate`.  What is asserted: the exit code, what
dvc.lock records, the requests of the re-run, that the key is nowhere, and
that a `kill -9` leaves nothing in the way of a plain `dvc repro`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from test_pipeline import make_workspace, sh

from echo_bench.testing.fault_server import Answer, FaultServer

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
KEY_ENV = "ECHO_DVC_FAULT_KEY"
SECRET = "sk-dvc-fault-" + "a1b2c3d4e5f60718" * 2
OK = {"score": 4, "reason": "about image generation"}
CACHE = "data/cache/llm/relevance"


def env(with_key: bool) -> dict[str, str]:
    out = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    out.pop(KEY_ENV, None)
    if with_key:
        out[KEY_ENV] = SECRET
    return out


def repro(ws: Path, *, with_key: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["dvc", "repro", "curate"], cwd=ws, env=env(with_key), capture_output=True, text=True,
                          timeout=timeout)


def use_server(ws: Path, url: str, model: str, **cfg) -> None:
    path = ws / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["relevance"]["llm"] = {"backend": "openai", "model": model, "base_url": url, "api_key_env": KEY_ENV,
                                  "max_retries": 0, "timeout_s": 10.0, "max_concurrency": 8, **cfg}
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def locked(ws: Path) -> dict:
    lock = ws / "dvc.lock"
    return yaml.safe_load(lock.read_text())["stages"] if lock.exists() else {}


def cached_entries(ws: Path, model: str | None = None) -> int:
    entries = list((ws / CACHE).glob("??/*.json"))
    if model is None:
        return len(entries)
    return sum(1 for p in entries if json.loads(p.read_text())["model"] == model)


def fails(key: str, share: int = 6) -> bool:
    """A fixed, content-chosen subset of the requests (about 1 in ``share``)."""
    return hashlib.sha256(key.encode()).digest()[0] % share == 0


@pytest.fixture(scope="module")
def ws(repo_root: Path, tmp_path_factory) -> Path:
    ws = make_workspace(repo_root, tmp_path_factory.mktemp("llm_fail_ws"))
    sh(["dvc", "repro", "threads"], ws)
    return ws


def test_unset_key_fails_the_stage_records_nothing_and_the_next_repro_runs_it(ws):
    """Point 1: before, `dvc repro` exited 0 with five empty splits and dvc.lock updated."""
    with FaultServer(lambda r: Answer.json(OK)) as server:
        use_server(ws, server.base_url, "m-unset")
        before = (ws / "dvc.lock").read_bytes()
        proc = repro(ws, with_key=False)
        assert proc.returncode != 0
        out = proc.stdout + proc.stderr
        assert f"{KEY_ENV} is not set" in out and "stage relevance" in out and server.base_url in out
        assert server.count() == 0
        assert "curate" not in locked(ws) and (ws / "dvc.lock").read_bytes() == before
        assert not (ws / "data/curated/relevance.parquet").exists()
        assert not list((ws / "data/splits").glob("*.parquet")) if (ws / "data/splits").exists() else True

        proc = repro(ws, with_key=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        n = server.count()
        assert n > 100 and "curate" in locked(ws)
        scores = pl.read_parquet(ws / "data/curated/relevance.parquet")
        assert scores.height >= n and (scores["status"] == "ok").all()  # identical requests are sent once
        assert pl.read_parquet(ws / "data/splits/analysis.parquet").height > 0

        proc = repro(ws, with_key=True)  # up to date: nothing sent
        assert proc.returncode == 0 and server.count() == n


def test_partial_failure_above_the_threshold_fails_and_the_rerun_sends_only_the_failed(ws):
    """Point 2: before, 31 of 301 failing exited 0, and a plain `dvc repro` then skipped the stage."""
    broken = True

    def plan(req):
        if broken and fails(req.user_text):
            return Answer.error(500, "this one is down")
        return Answer.json(OK)

    with FaultServer(plan) as server:
        use_server(ws, server.base_url, "m-partial")
        lock_before = locked(ws)["curate"]
        proc = repro(ws)
        assert proc.returncode != 0
        assert "more than max_failed_share=0.02" in proc.stdout + proc.stderr
        assert locked(ws)["curate"] == lock_before  # DVC recorded nothing new
        assert not (ws / "data/curated/relevance.parquet").exists()
        sent = server.count()
        failed = server.count(lambda s: s.answer.kind == "error")
        assert 0.05 * sent < failed < 0.4 * sent
        assert cached_entries(ws) >= sent - failed  # the successes are kept for the re-run

        broken = False
        server.reset()
        proc = repro(ws)  # plain dvc repro, no -f
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert server.count() == failed  # exactly the failed requests
        assert locked(ws)["curate"] != lock_before


def test_a_key_echoed_by_the_server_ends_up_nowhere(ws):
    """Point 5: before, a 401 echoing the key put it into relevance.parquet, the quarantine, the log and the DVC cache."""
    def plan(req):
        if fails(req.user_text, 4):
            return Answer.reply(f"invalid: your key {req.api_key} is logged")  # rejected reply with the key
        return Answer.json({"score": 5, "reason": f"fine for {req.api_key}"})

    with FaultServer(lambda r: Answer.error(401, f"Incorrect API key provided: {r.api_key}")) as server:
        use_server(ws, server.base_url, "m-secret-401")
        proc = repro(ws)
        assert proc.returncode != 0 and server.count() == 1  # the preflight request, then stop
        assert "http_401" in proc.stdout + proc.stderr
        assert SECRET not in proc.stdout + proc.stderr
    with FaultServer(plan) as server:  # echoes in 200 replies, rejected and accepted, below nothing: share 1.0
        use_server(ws, server.base_url, "m-secret-echo")
        params = yaml.safe_load((ws / "params.yaml").read_text())
        params["relevance"]["max_failed_share"] = 1.0
        (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        proc = repro(ws)
        params["relevance"]["max_failed_share"] = 0.02
        (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert server.count(lambda s: s.request.api_key == SECRET) == server.count() > 0
        assert SECRET not in proc.stdout + proc.stderr
    quarantine = pl.read_parquet(ws / "data/interim/quarantine/relevance.parquet")
    assert (quarantine["reason"] == "llm_invalid_json").sum() > 0
    assert "[redacted:ECHO_DVC_FAULT_KEY]" in " ".join(quarantine["raw"].to_list())
    scanned = 0
    for path in ws.rglob("*"):
        if not path.is_file() or ".git/" in path.as_posix():
            continue
        scanned += 1
        assert SECRET.encode() not in path.read_bytes(), path
        if path.suffix == ".parquet" or (path.parent.parent.name == "files" and path.stat().st_size < 50_000_000):
            try:
                df = pl.read_parquet(path)  # the DVC cache holds the parquet files under content hashes
            except Exception:  # noqa: BLE001 - not a parquet file
                continue
            assert SECRET not in json.dumps(df.to_dicts(), default=str), path
    assert scanned > 50


def test_kill_9_then_plain_repro_resumes(ws):
    """Point 6: before, the next `dvc repro` failed with Snakemake's LockException."""
    slow = True

    def plan(req):
        return Answer.json(OK, delay_s=0.25 if slow else 0.0)

    with FaultServer(plan) as server:
        use_server(ws, server.base_url, "m-kill", max_concurrency=2)
        proc = subprocess.Popen(["dvc", "repro", "curate"], cwd=ws, env=env(True), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 300
        while server.answered() < 30 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        time.sleep(1.0)  # let the requests in flight reach the server's log
        before_kill = server.count()
        in_cache = cached_entries(ws, "m-kill")
        assert in_cache >= 20

        slow = False
        server.reset()
        done = repro(ws)  # plain dvc repro
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        assert "LockException" not in done.stdout + done.stderr
        unique = cached_entries(ws, "m-kill")  # every distinct request now has its reply cached
        resent = server.count()
        assert resent == unique - in_cache  # only what had no cached reply: the requests in flight and the unsent
        assert pl.read_parquet(ws / "data/curated/relevance.parquet")["status"].eq("ok").all()
        assert before_kill - in_cache <= 2  # at most max_concurrency requests were in flight at the kill
    for path in (ws / "data").rglob("*.parquet"):
        pl.read_parquet(path)  # every Parquet file is readable
