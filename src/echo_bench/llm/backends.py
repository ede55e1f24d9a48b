"""Provider backends: request payloads, one synchronous call, batch submit/poll/results.

Both use the official SDKs (``openai``, ``anthropic``) with the SDK's own
retries disabled (``max_retries=0``): :mod:`echo_bench.llm.client` counts and
paces every attempt itself.  Replies are read from plain response dicts so the
same parser serves synchronous calls and batch result files.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echo_bench.llm.retry import RETRY_STATUSES, CallError, parse_retry_after

# --- what every backend works with ------------------------------------------------


@dataclass
class Prepared:
    """A request rendered and keyed, ready to be sent or looked up."""

    index: int
    request: Any  # LLMRequest
    template: str  # name@version
    system: str
    user: str
    image_paths: tuple[str, ...]
    image_hashes: tuple[str, ...]
    schema: Mapping[str, Any] | None
    cache_key: str


@dataclass
class Result:
    """One reply of a provider, reduced to what we keep."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None
    refusal: str | None = None  # the provider's refusal message/reason, if it refused
    response_model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """The decoding and transport settings of a client (from its cfg)."""

    model: str
    temperature: float | None
    max_tokens: int
    json_mode: bool
    image_detail: str | None
    image_max_side: int | None
    max_tokens_field: str  # openai: max_tokens | max_completion_tokens

    def key_material(self) -> dict[str, Any]:
        """The settings that can change a reply, for the cache key."""
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "json_mode": self.json_mode,
            "image_detail": self.image_detail,
            "image_max_side": self.image_max_side,
        }


JSON_REPAIR_NOTE = (
    "Your previous reply could not be used: {error}. Reply again with only the JSON object the "
    "instructions ask for, with no text before or after it."
)

# --- images -----------------------------------------------------------------------

_SUPPORTED = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def sniff_media_type(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def load_image(path: str, max_side: int | None) -> tuple[str, bytes]:
    """(media type, bytes) of an image as sent: unsupported formats and oversized images re-encoded."""
    data = Path(path).read_bytes()
    media = sniff_media_type(data)
    too_big = False
    if max_side or media not in _SUPPORTED:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            too_big = bool(max_side) and max(im.size) > int(max_side)  # type: ignore[arg-type]
            if too_big or media not in _SUPPORTED:
                im.load()
                img = im
                if too_big:
                    scale = int(max_side) / max(im.size)  # type: ignore[arg-type]
                    img = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
                buf = io.BytesIO()
                if media == "image/jpeg":
                    img.convert("RGB").save(buf, format="JPEG", quality=90)
                else:
                    if img.mode not in ("RGB", "RGBA", "L", "LA"):
                        img = img.convert("RGBA")
                    img.save(buf, format="PNG", optimize=False)
                    media = "image/png"
                data = buf.getvalue()
    return media or "image/png", data


# --- error classification -------------------------------------------------------


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during, innermost last."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        yield node
        node = node.__cause__ or node.__context__


def connection_cause(exc: BaseException) -> tuple[str, str] | None:
    """("connection_refused" | "dns_failed", reason) when nothing listens at the URL or its host does not resolve.

    Retrying cannot fix either within a run, so both are final (and fail a stage's preflight).
    """
    for e in _causes(exc):
        if isinstance(e, ConnectionRefusedError):
            return "connection_refused", "connection refused (nothing listens there)"
        if isinstance(e, socket.gaierror):
            return "dns_failed", f"host name does not resolve ({e})"
        text = str(e)
        if "Connection refused" in text or "Errno 111" in text:
            return "connection_refused", "connection refused (nothing listens there)"
        if "Name or service not known" in text or "nodename nor servname" in text or "Temporary failure in name resolution" in text:
            return "dns_failed", f"host name does not resolve ({text[:120]})"
    return None


def classify_exception(exc: BaseException, sdk: Any, url: str | None = None) -> CallError:
    """Map an SDK exception to a :class:`CallError` (code, retryable, Retry-After); ``url`` names the endpoint."""
    if isinstance(exc, CallError):
        return exc
    at = f" at {url}" if url else ""
    if isinstance(exc, sdk.APITimeoutError):
        return CallError("timeout", f"no reply within the timeout{at}", retryable=True)
    if isinstance(exc, sdk.APIConnectionError):
        cause = connection_cause(exc)
        if cause is not None:
            return CallError(cause[0], f"{cause[1]}{at}", retryable=False)
        return CallError("connection", f"{str(exc)[:300]}{at}", retryable=True)
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        headers = dict(exc.response.headers) if getattr(exc, "response", None) is not None else {}
        code = "rate_limited" if status == 429 else f"http_{status}"
        return CallError(
            code,
            str(getattr(exc, "message", exc))[:300],
            retryable=status in RETRY_STATUSES,
            retry_after=parse_retry_after(headers),
        )
    if isinstance(exc, sdk.APIResponseValidationError):
        return CallError("bad_response", str(exc)[:300], retryable=True)
    if isinstance(exc, (ValueError, KeyError, IndexError)):
        # e.g. a body that is not JSON (JSONDecodeError), or JSON without the expected fields
        return CallError("bad_response", f"{type(exc).__name__}: {exc}"[:300], retryable=True)
    if isinstance(exc, (TypeError, AttributeError)):
        # the SDK rejected our arguments: no retry can help
        return CallError("client_error", f"{type(exc).__name__}: {exc}"[:300], retryable=False)
    return CallError("unexpected", f"{type(exc).__name__}: {exc}"[:300], retryable=True)


def _json_body(raw: Any) -> dict[str, Any]:
    """The JSON body of an SDK raw response (``with_raw_response``); ValueError when it is not JSON."""
    body = json.loads(raw.http_response.content)
    if not isinstance(body, dict):
        raise ValueError(f"reply body is a JSON {type(body).__name__}, not an object")  # noqa: TRY004 - a bad reply
    return body


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, (str, bytes)):
        return json.loads(obj)
    return obj.model_dump(mode="json")


# --- base --------------------------------------------------------------------------


class Backend:
    name = ""
    #: The provider SDK's module and its client class, imported when a backend is made.
    sdk_module: str = ""
    client_class: str = ""

    def __init__(self, settings: Settings, *, api_key: str | None, base_url: str | None, timeout_s: float) -> None:
        self.sdk = importlib.import_module(self.sdk_module)
        self.settings = settings
        self.api_key = api_key
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        """The SDK client with its own retries off: the LLM layer retries (and honours Retry-After) itself."""
        return getattr(self.sdk, self.client_class)(
            api_key=self.api_key or "EMPTY",
            base_url=self.base_url or None,
            timeout=self.timeout_s,
            max_retries=0,
        )

    def payload(self, prep: Prepared, repair: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        raise NotImplementedError

    def call(self, payload: Mapping[str, Any]) -> Result:
        raise NotImplementedError

    def result_from_body(self, body: Mapping[str, Any]) -> Result:
        raise NotImplementedError

    # batch API
    def batch_submit(self, lines: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        raise NotImplementedError

    def batch_status(self, state: Mapping[str, Any]) -> tuple[bool, str]:
        """(finished, provider status)"""
        raise NotImplementedError

    def batch_results(self, state: Mapping[str, Any]) -> Iterator[tuple[str, Result | CallError]]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The endpoint requests go to (the SDK's default when the cfg names no ``base_url``)."""
        try:
            return str(self.client.base_url)
        except Exception:  # noqa: BLE001 - only for messages
            return str(self.base_url or "(the SDK's default URL)")

    def classify(self, exc: BaseException) -> CallError:
        return classify_exception(exc, self.sdk, self.url)


# --- OpenAI (and any OpenAI-compatible endpoint) ----------------------------------------


class OpenAIBackend(Backend):
    name = "openai"
    sdk_module = "openai"
    client_class = "OpenAI"

    def payload(self, prep: Prepared, repair: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        s = self.settings
        content: list[dict[str, Any]] = [{"type": "text", "text": prep.user}]
        for i, path in enumerate(prep.image_paths, 1):
            media, data = load_image(path, s.image_max_side)
            url = f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"
            image_url: dict[str, Any] = {"url": url}
            if s.image_detail:
                image_url["detail"] = s.image_detail
            content.append({"type": "text", "text": f"Image {i}:"})
            content.append({"type": "image_url", "image_url": image_url})
        messages: list[dict[str, Any]] = []
        if prep.system:
            messages.append({"role": "system", "content": prep.system})
        messages.append({"role": "user", "content": content})
        for role, text in repair:
            messages.append({"role": role, "content": text})
        body: dict[str, Any] = {"model": s.model, "messages": messages, s.max_tokens_field: s.max_tokens}
        if s.temperature is not None:
            body["temperature"] = s.temperature
        if s.json_mode and prep.schema is not None:
            body["response_format"] = {"type": "json_object"}
        return body

    def call(self, payload: Mapping[str, Any]) -> Result:
        try:
            # the raw response: the body is read as JSON once, without building pydantic models
            resp = self.client.chat.completions.with_raw_response.create(**payload, timeout=self.timeout_s)
            return self.result_from_body(_json_body(resp))
        except CallError:
            raise
        except Exception as exc:  # every failure becomes a classified CallError
            raise self.classify(exc) from exc

    def result_from_body(self, body: Mapping[str, Any]) -> Result:
        choices = body.get("choices") or []
        if not choices:
            raise CallError("bad_response", "reply has no choices", retryable=True)
        choice = choices[0]
        msg = choice.get("message") or {}
        content = msg.get("content")
        if isinstance(content, list):  # some compatible servers return content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        usage = body.get("usage") or {}
        finish = choice.get("finish_reason")
        refusal = msg.get("refusal") or ("content_filter" if finish == "content_filter" else None)
        return Result(
            text=content or "",
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=finish,
            refusal=refusal,
            response_model=body.get("model"),
        )

    # Batch API: upload a JSONL file, create a batch, poll, download the output file.
    def batch_submit(self, lines: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        jsonl = "".join(
            json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n"
            for cid, body in lines
        ).encode("utf-8")
        f = self.client.files.create(file=("echo-bench-batch.jsonl", jsonl, "application/jsonl"), purpose="batch")
        b = self.client.batches.create(
            input_file_id=f.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"producer": "echo-bench"},
        )
        return {"batch_id": b.id, "input_file_id": f.id, "provider_status": b.status}

    def batch_status(self, state: Mapping[str, Any]) -> tuple[bool, str]:
        b = self.client.batches.retrieve(state["batch_id"])
        return b.status in ("completed", "failed", "expired", "cancelled"), b.status

    def batch_results(self, state: Mapping[str, Any]) -> Iterator[tuple[str, Result | CallError]]:
        b = self.client.batches.retrieve(state["batch_id"])
        for file_id in (b.output_file_id, b.error_file_id):
            if not file_id:
                continue
            raw = self.client.files.content(file_id).content
            for line in raw.decode("utf-8").splitlines():
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    cid = item["custom_id"]
                except (ValueError, KeyError, TypeError):
                    continue
                resp = item.get("response") or {}
                status = int(resp.get("status_code") or 0)
                if status == 200 and not item.get("error"):
                    try:
                        yield cid, self.result_from_body(resp.get("body") or {})
                    except CallError as err:
                        yield cid, err
                else:
                    err = item.get("error") or (resp.get("body") or {}).get("error") or {}
                    detail = err.get("message") if isinstance(err, dict) else str(err)
                    yield (
                        cid,
                        CallError(
                            f"http_{status}" if status else "batch_error",
                            str(detail)[:300],
                            retryable=status in RETRY_STATUSES or not status,
                        ),
                    )


# --- Anthropic ------------------------------------------------------------------------------


class AnthropicBackend(Backend):
    name = "anthropic"
    sdk_module = "anthropic"
    client_class = "Anthropic"

    def payload(self, prep: Prepared, repair: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        s = self.settings
        content: list[dict[str, Any]] = []
        for i, path in enumerate(prep.image_paths, 1):
            media, data = load_image(path, s.image_max_side)
            content.append({"type": "text", "text": f"Image {i}:"})
            content.append(
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": media, "data": base64.b64encode(data).decode("ascii")},
                }
            )
        content.append({"type": "text", "text": prep.user})
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        for role, text in repair:
            messages.append({"role": role, "content": text})
        body: dict[str, Any] = {"model": s.model, "max_tokens": s.max_tokens, "messages": messages}
        if prep.system:
            body["system"] = prep.system
        if s.temperature is not None:
            body["temperature"] = s.temperature
        return body

    #: body fields this SDK version has no keyword for; sent through ``extra_body``
    EXTRA_BODY_FIELDS = ("temperature",)

    def call(self, payload: Mapping[str, Any]) -> Result:
        kw = dict(payload)
        extra = {k: kw.pop(k) for k in self.EXTRA_BODY_FIELDS if k in kw}
        try:
            resp = self.client.messages.with_raw_response.create(**kw, extra_body=extra or None, timeout=self.timeout_s)
            return self.result_from_body(_json_body(resp))
        except CallError:
            raise
        except Exception as exc:  # every failure becomes a classified CallError
            raise self.classify(exc) from exc

    def result_from_body(self, body: Mapping[str, Any]) -> Result:
        blocks = body.get("content")
        if blocks is None:
            raise CallError("bad_response", "reply has no content", retryable=True)
        text = "".join(b.get("text") or "" for b in blocks if isinstance(b, dict) and b.get("type") == "text")
        usage = body.get("usage") or {}
        input_tokens = sum(
            int(usage.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        stop = body.get("stop_reason")
        refusal = None
        if stop == "refusal":
            details = body.get("stop_details") or {}
            refusal = (
                (details.get("explanation") if isinstance(details, dict) else None) or text or "stop_reason=refusal"
            )
        return Result(
            text=text,
            input_tokens=input_tokens,
            output_tokens=int(usage.get("output_tokens") or 0),
            finish_reason=stop,
            refusal=refusal,
            response_model=body.get("model"),
        )

    # Message Batches: create with all requests, poll processing_status, stream results.
    def batch_submit(self, lines: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        b = self.client.messages.batches.create(requests=[{"custom_id": cid, "params": body} for cid, body in lines])
        return {"batch_id": b.id, "provider_status": b.processing_status}

    def batch_status(self, state: Mapping[str, Any]) -> tuple[bool, str]:
        b = self.client.messages.batches.retrieve(state["batch_id"])
        return b.processing_status == "ended", b.processing_status

    def batch_results(self, state: Mapping[str, Any]) -> Iterator[tuple[str, Result | CallError]]:
        for item in self.client.messages.batches.results(state["batch_id"]):
            res = item.result
            if res.type == "succeeded":
                try:
                    yield item.custom_id, self.result_from_body(_as_dict(res.message))
                except CallError as err:
                    yield item.custom_id, err
            elif res.type == "errored":
                err = _as_dict(res.error)
                inner = err.get("error") or {}
                yield item.custom_id, CallError("batch_errored", str(inner.get("message") or err)[:300], retryable=True)
            else:  # canceled | expired
                yield item.custom_id, CallError(f"batch_{res.type}", "request was not processed", retryable=True)


BACKENDS: dict[str, type[Backend]] = {"openai": OpenAIBackend, "anthropic": AnthropicBackend}


def api_key_from_env(env_name: str | None) -> str | None:
    """The API key from the environment variable named in the cfg (never from anywhere else)."""
    if not env_name:
        return None
    return os.environ.get(env_name) or None
