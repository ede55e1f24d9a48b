"""OpenAI Images routes for the loopback API stub (:mod:`echo_bench.testing.api_stub`).

    routes = ImageRoutes(refuse=lambda p: "forbidden" in p)
    with APIStub(routes=routes.routes()) as stub:
        client = openai.OpenAI(base_url=stub.openai_base_url, api_key="test", max_retries=0)
        client.images.generate(model="gpt-image-1", prompt="a red fox")
        routes.requests[-1]["prompt"]  # what the server received

Served:

- ``POST /v1/images/generations`` (JSON): a deterministic picture for the prompt
  (a flat colour from the prompt's hash, a darker square in the middle), of the
  requested ``size`` (``WxH``; default :attr:`ImageRoutes.size`);
- ``POST /v1/images/edits`` (multipart, ``image`` or ``image[]`` repeated): the
  first uploaded image, pixel for pixel (so a test can check the input arrived);
- ``GET /v1/images/files/{name}``: images handed out by URL when the request asks
  ``response_format: url``.

Both answer ``b64_json`` by default, in the requested ``output_format`` (png,
jpeg, webp; a jpeg carries an EXIF block, to exercise metadata stripping).
A prompt for which ``refuse(prompt)`` is true gets the provider's refusal, HTTP
400 with code ``content_policy_violation``; one for which ``hang(prompt)`` is
true is answered only after ``hang_s`` seconds (longer than a client timeout).
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import time
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageDraw

from echo_bench.testing.api_stub import StubError, StubRequest, StubResponse

REFUSAL_MESSAGE = (
    "Your request was rejected as a result of our safety system. Your prompt may contain text that is not "
    "allowed by our safety system."
)


def refusal_body(code: str = "content_policy_violation", message: str = REFUSAL_MESSAGE) -> dict[str, Any]:
    return {"error": {"message": message, "type": "image_generation_user_error", "param": None, "code": code}}


def prompt_image(prompt: str, size: tuple[int, int]) -> Image.Image:
    """The deterministic picture the stub 'generates' for ``prompt``."""
    h = hashlib.sha256(prompt.encode("utf-8")).digest()
    w, ht = size
    img = Image.new("RGB", (w, ht), (h[0], h[1], h[2]))
    ImageDraw.Draw(img).rectangle((w // 4, ht // 4, 3 * w // 4, 3 * ht // 4), fill=(h[0] // 2, h[1] // 2, h[2] // 2))
    return img


def encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt in ("jpeg", "jpg"):
        exif = Image.Exif()
        exif[0x010F] = "echo-bench image stub"  # Make
        exif[0x0131] = "stub/1"  # Software
        img.convert("RGB").save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    elif fmt == "webp":
        img.save(buf, format="WEBP", lossless=True)
    else:
        img.save(buf, format="PNG")
    return buf.getvalue()


class ImageRoutes:
    """Handlers of the OpenAI Images endpoints, with a record of what they received."""

    def __init__(
        self,
        *,
        refuse: Callable[[str], bool] = lambda prompt: False,
        hang: Callable[[str], bool] = lambda prompt: False,
        hang_s: float = 5.0,
        size: tuple[int, int] = (64, 48),
    ) -> None:
        self.refuse = refuse
        self.hang = hang
        self.hang_s = hang_s
        self.size = size
        self.requests: list[dict[str, Any]] = []  # endpoint, model, prompt, fields, images (bytes)
        self.files: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._n = 0

    def routes(self) -> dict[str, Callable[[StubRequest], Any]]:
        return {
            "POST /v1/images/generations": self.generations,
            "POST /v1/images/edits": self.edits,
            "GET /v1/images/files/{name}": self.file,
        }

    def register(self, stub: Any) -> ImageRoutes:
        """Add the routes to a running or not yet started :class:`APIStub`."""
        stub.routes.update(self.routes())
        return self

    def release(self) -> None:
        """Answer hung requests now (call before stopping the server)."""
        self._release.set()

    def count(self, endpoint: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r["endpoint"] == endpoint)

    # --- handlers -----------------------------------------------------------------------------------

    def _size(self, fields: dict[str, Any]) -> tuple[int, int]:
        size = str(fields.get("size") or "")
        if "x" in size:
            w, _, h = size.partition("x")
            try:
                return int(w), int(h)
            except ValueError as e:
                raise StubError(400, f"invalid size {size!r}") from e
        return self.size

    def _answer(self, req: StubRequest, endpoint: str, fields: dict[str, Any], images: list[bytes]) -> StubResponse:
        prompt = str(fields.get("prompt") or "")
        with self._lock:
            self.requests.append({"endpoint": endpoint, "model": fields.get("model"), "prompt": prompt,
                                  "fields": {k: v for k, v in fields.items() if k not in ("image", "image[]")},
                                  "images": images})
            self._n += 1
            n = self._n
        if not prompt:
            raise StubError(400, "prompt is required")
        if self.hang(prompt):
            self._release.wait(self.hang_s)
        if self.refuse(prompt):
            return StubResponse(400, refusal_body())
        if endpoint == "edits":
            if not images:
                raise StubError(400, "image is required")
            img = Image.open(io.BytesIO(images[0]))
            img.load()
        else:
            img = prompt_image(prompt, self._size(fields))
        fmt = str(fields.get("output_format") or "png")
        data = encode(img, fmt)
        item: dict[str, Any] = {"revised_prompt": f"stub: {prompt}"}
        if fields.get("response_format") == "url":
            name = f"img{n:05d}.{'jpg' if fmt in ('jpeg', 'jpg') else fmt}"
            with self._lock:
                self.files[name] = data
            item["url"] = f"{req.stub.url}/v1/images/files/{name}"
        else:
            item["b64_json"] = base64.b64encode(data).decode("ascii")
        body = {
            "created": int(time.time()),
            "data": [item],
            "usage": {"input_tokens": len(prompt) // 4 + 1, "output_tokens": 1056, "total_tokens": len(prompt) // 4 + 1057,
                      "input_tokens_details": {"text_tokens": len(prompt) // 4 + 1, "image_tokens": 0}},
        }
        return StubResponse(200, body)

    def generations(self, req: StubRequest) -> StubResponse:
        return self._answer(req, "generations", dict(req.json() or {}), [])

    def edits(self, req: StubRequest) -> StubResponse:
        form = req.form()
        images: list[bytes] = []
        for key in ("image", "image[]"):
            val = form.get(key)
            for v in val if isinstance(val, list) else ([val] if val is not None else []):
                if isinstance(v, tuple):
                    images.append(v[1])
        fields = {k: v for k, v in form.items() if not isinstance(v, (tuple, list))}
        return self._answer(req, "edits", fields, images)

    def file(self, req: StubRequest) -> StubResponse:
        data = self.files.get(req.params["name"])
        if data is None:
            raise StubError(404, "no such file")
        return StubResponse(200, data, content_type="application/octet-stream")


__all__ = ["REFUSAL_MESSAGE", "ImageRoutes", "encode", "prompt_image", "refusal_body"]
