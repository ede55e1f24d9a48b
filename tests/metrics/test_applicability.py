"""Applicability: the offline rules, and the LLM option through the real SDK against a loopback stub."""

from __future__ import annotations

import json

import polars as pl
import pytest

from echo_bench.metrics.applicability import APPLICABILITY, OFFLINE_BACKEND, decide, offline_applicability


def _v(prompt: str, task: str = "edit", n: int = 1, face: bool | None = None):
    return {k: (v.applicable, v.target_text) for k, v in offline_applicability(prompt, task, n, input_has_face=face).items()}


def test_text_to_image_gets_only_text() -> None:
    v = _v('A chalkboard sign that says "FRESH COFFEE"', "text_to_image", 0)
    assert v == {"color": (False, ()), "structure": (False, ()), "face": (False, ()),
                 "text": (True, ("FRESH COFFEE",))}


def test_edits() -> None:
    v = _v("Add a small red boat to the lake", face=False)
    assert v["color"][0] and v["structure"][0] and not v["face"][0] and not v["text"][0]
    # a colour change is asked for: no colour metric; the layout stays
    v = _v("Turn this into a black and white photo", face=False)
    assert not v["color"][0] and v["structure"][0]
    # a viewpoint change: no structure metric
    v = _v("Show the same room from a bird's eye view", face=False)
    assert v["color"][0] and not v["structure"][0]
    # person in the prompt, or a face in the input
    assert _v("Make me a Studio Ghibli character")["face"][0]
    assert _v("Put a hat on the dog", face=True)["face"][0]
    assert not _v("Put a hat on the dog", face=False)["face"][0]
    assert not _v("Replace the face with a cartoon robot", face=True)["face"][0]
    # an edit that also asks for text
    assert _v('Add a banner that says "HAPPY BIRTHDAY" above me')["text"] == (True, ("HAPPY BIRTHDAY",))


def _samples() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sample_id": ["a", "b"],
            "prompt": ['A sign that says "HI"', "Make me look like a watercolor painting"],
            "task_type": ["text_to_image", "edit"],
            "input_images": [[], ["in.png"]],
        }
    )


def test_decide_offline_table() -> None:
    df = decide(_samples(), face_probe=lambda paths: False)
    assert df.schema == APPLICABILITY
    assert df.height == 8 and set(df["backend"]) == {OFFLINE_BACKEND}
    got = {(r["sample_id"], r["family"]): r["applicable"] for r in df.iter_rows(named=True)}
    assert got[("a", "text")] and not got[("a", "color")]
    assert got[("b", "face")] and got[("b", "structure")] and not got[("b", "color")]  # watercolour changes colours


def test_decide_with_an_llm_backend(tmp_path, monkeypatch) -> None:
    from PIL import Image

    from echo_bench.testing.api_stub import APIStub

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ECHO_TEST_KEY", "sk-test")
    Image.new("RGB", (32, 32), (200, 10, 10)).save("in.png")
    reply = {
        "color": {"applicable": True, "reason": "keep colours"},
        "face": {"applicable": True, "reason": "a person"},
        "structure": {"applicable": False, "reason": "new pose"},
        "text": {"applicable": True, "reason": "asks for text", "target_text": "HI\nTHERE"},
    }
    calls = []

    def responder(call):
        calls.append(call)
        if "watercolor" in call.text:
            return "not json at all"
        return reply

    with APIStub(responder) as stub:
        cfg = {"backend": "openai", "model": "gpt-stub", "base_url": stub.openai_base_url,
               "api_key_env": "ECHO_TEST_KEY", "max_retries": 0}
        df = decide(_samples(), llm_cfg=cfg, cache_dir=str(tmp_path / "cache"))
    rows = {(r["sample_id"], r["family"]): r for r in df.iter_rows(named=True)}
    assert rows[("a", "text")]["target_text"] == ["HI", "THERE"]
    assert rows[("a", "structure")]["applicable"] is False
    assert rows[("a", "color")]["backend"] == "openai/gpt-stub"
    # the invalid reply falls back to the offline rules, labelled as such
    assert rows[("b", "color")]["backend"].startswith(f"{OFFLINE_BACKEND} (fallback")
    assert rows[("b", "color")]["applicable"] is False  # watercolour: the rules say no
    # requests run concurrently, so find the edit sample's call by its content, not its order
    (edit_call,) = [c for c in calls if "watercolor" in c.text]
    assert len(edit_call.images) == 1 and "Task type: edit" in edit_call.text
    assert json.loads(json.dumps(rows[("a", "text")]["reason"]))  # plain strings
    # a re-run is served from the response cache: no new calls for the good reply
    with APIStub(responder) as stub2:
        cfg["base_url"] = stub2.openai_base_url
        decide(_samples(), llm_cfg=cfg, cache_dir=str(tmp_path / "cache"))
        assert stub2.model_hits == 1  # only the failed one is asked again


def test_unknown_metric_family() -> None:
    from echo_bench.metrics.applicability import families_of

    with pytest.raises(ValueError, match="unknown metrics"):
        families_of(["colour"])
