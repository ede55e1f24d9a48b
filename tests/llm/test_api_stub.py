"""The loopback stub itself: extra routes, per-route hits and faults, multipart, clean stop."""

from __future__ import annotations

import base64
import threading
import time

import httpx
import openai
import pytest

from echo_bench.testing.api_stub import APIStub, Fault, StubRequest, StubResponse


def test_extra_routes_can_be_registered_for_other_endpoints() -> None:
    png = b"\x89PNG\r\n\x1a\nfake"

    def generations(req: StubRequest):
        body = req.json()
        return {"created": 0, "data": [{"b64_json": base64.b64encode(png).decode()}], "prompt": body["prompt"]}

    def edits(req: StubRequest):
        form = req.form()
        images = form["image[]"] if isinstance(form["image[]"], list) else [form["image[]"]]
        return {"created": 0, "data": [{"b64_json": base64.b64encode(images[0][1]).decode()}], "n_images": len(images)}

    with APIStub(routes={"POST /v1/images/generations": generations}) as stub:
        stub.routes["POST /v1/images/edits"] = edits
        client = openai.OpenAI(base_url=stub.openai_base_url, api_key="test", max_retries=0)
        gen = client.images.generate(model="gpt-image-1", prompt="a fox")
        assert base64.b64decode(gen.data[0].b64_json) == png
        ed = client.images.edit(
            model="gpt-image-1",
            prompt="make it blue",
            image=[("a.png", b"AAA", "image/png"), ("b.png", b"BBB", "image/png")],
        )
        assert base64.b64decode(ed.data[0].b64_json) == b"AAA"
        assert stub.hits["POST /v1/images/generations"] == 1 and stub.hits["POST /v1/images/edits"] == 1

        # faults can target any route by its key
        stub.inject(Fault.rate_limit(0, route="POST /v1/images/generations"))
        with pytest.raises(openai.RateLimitError):
            client.images.generate(model="gpt-image-1", prompt="a fox")
        assert stub.hits["POST /v1/images/generations"] == 2


def test_unknown_routes_answer_404_and_are_counted() -> None:
    with APIStub() as stub:
        r = httpx.get(f"{stub.url}/v1/nope")
        assert r.status_code == 404 and stub.hits["404 GET /v1/nope"] == 1


def test_handlers_may_return_tuples_and_errors_become_500() -> None:
    def boom(req: StubRequest):
        raise RuntimeError("handler bug")

    with APIStub(
        routes={"GET /x/{id}": lambda req: (201, {"id": req.params["id"]}, {"X-Extra": "1"}), "/boom": boom}
    ) as stub:
        r = httpx.get(f"{stub.url}/x/abc")
        assert r.status_code == 201 and r.json() == {"id": "abc"} and r.headers["x-extra"] == "1"
        r = httpx.post(f"{stub.url}/boom")
        assert r.status_code == 500 and "handler bug" in r.text
        assert isinstance(StubResponse().headers, dict)


def test_stop_releases_hung_requests_quickly() -> None:
    stub = APIStub().start()
    stub.inject(Fault.hang(30))
    done = threading.Event()

    def call() -> None:
        try:
            httpx.post(f"{stub.url}/v1/chat/completions", json={"model": "m", "messages": []}, timeout=10)
        except httpx.HTTPError:
            pass
        done.set()

    threading.Thread(target=call, daemon=True).start()
    time.sleep(0.2)
    t0 = time.monotonic()
    stub.stop()
    assert time.monotonic() - t0 < 3
    assert done.wait(5)


def test_default_responder_and_reset() -> None:
    with APIStub() as stub:
        client = openai.OpenAI(base_url=stub.openai_base_url, api_key="test", max_retries=0)
        out = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
        assert out.choices[0].message.content.startswith("stub reply ")
        assert out.usage.prompt_tokens > 0 and stub.calls[0].text == "hello"
        stub.inject(Fault.server_error())
        stub.reset()
        assert not stub.hits and not stub.calls and not stub.faults
