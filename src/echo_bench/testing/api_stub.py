"""A loopback HTTP server that speaks enough of the OpenAI and Anthropic APIs for tests.

    with APIStub(responder=lambda call: {"score": 5, "reason": "clear"}) as stub:
        client = openai.OpenAI(base_url=stub.openai_base_url, api_key="test", max_retries=0)
        ...
        assert stub.hits["POST /v1/chat/completions"] == 1

Routes served (``METHOD /path`` keys of :attr:`APIStub.routes`):

- OpenAI: ``POST /v1/chat/completions``, ``POST /v1/files``, ``GET /v1/files/{file_id}``,
  ``GET /v1/files/{file_id}/content``, ``POST /v1/batches``, ``GET /v1/batches/{batch_id}``
- Anthropic: ``POST /v1/messages``, ``POST /v1/messages/batches``,
  ``GET /v1/messages/batches/{batch_id}``, ``GET /v1/messages/batches/{batch_id}/results``

Model replies come from a pluggable ``responder(call: ModelCall) -> str | dict | ModelReply``
(a dict is sent as JSON text); raising :class:`StubError` answers with an HTTP
error (and an errored line inside batches).  Faults are scripted with
:meth:`APIStub.inject`: each incoming request takes the first queued fault whose
route matches (faults without a route apply to the model routes), e.g.
``stub.inject(Fault.rate_limit(1), Fault.server_error(), Fault.hang(5))``.

More routes (e.g. ``POST /v1/images/generations``) are added with the ``routes``
argument or by assigning ``stub.routes["POST /v1/images/edits"] = handler``; a
handler takes a :class:`StubRequest` and returns a :class:`StubResponse`, a
dict/list (JSON 200), str/bytes, or ``(status, body)``.

The server listens on 127.0.0.1, port 0 (a free port), in a daemon thread; it
stops when the ``with`` block ends (or on :meth:`stop`).  Run it stand-alone with
``python -m echo_bench.testing.api_stub --port 8000``.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

# --- what handlers and responders see ---------------------------------------------


@dataclass
class StubRequest:
    method: str
    path: str
    route: str  # the matched route key, e.g. "GET /v1/batches/{batch_id}"
    params: dict[str, str]  # path parameters
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    stub: APIStub
    fault: Fault | None = None  # the scripted fault taken by this request, if any

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, Any]:
        """Fields of a multipart/form-data body: str for fields, (filename, bytes, content type) for files."""
        ctype = self.headers.get("content-type", "")
        msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + self.body)
        out: dict[str, Any] = {}
        if not msg.is_multipart():
            return out
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            value: Any = (filename, data, part.get_content_type()) if filename is not None else data.decode("utf-8")
            if name in out:  # repeated fields (image[] in edits) become lists
                prev = out[name]
                out[name] = (prev if isinstance(prev, list) else [prev]) + [value]
            else:
                out[name] = value
        return out


@dataclass
class StubResponse:
    status: int = 200
    body: bytes | str | dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None


@dataclass
class ModelCall:
    """One model request (sync or inside a batch), as a responder sees it."""

    provider: str  # openai | anthropic
    model: str
    system: str
    text: str  # the user text of the request (all text parts of all user turns, joined)
    images: list[bytes]  # decoded images attached to the request, in order
    body: dict[str, Any]  # the request body as sent
    custom_id: str | None = None  # inside a batch


@dataclass
class ModelReply:
    text: str = ""
    refusal: bool | str = False
    input_tokens: int | None = None  # default: an estimate from the request size
    output_tokens: int | None = None  # default: an estimate from the reply size
    finish_reason: str | None = None


class StubError(Exception):
    """Raise from a responder or handler to answer with an HTTP error."""

    def __init__(self, status: int, message: str = "stub error", headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass
class Fault:
    """A scripted misbehaviour for the next matching request."""

    kind: str  # status | hang | malformed | refusal | drop
    status: int = 500
    retry_after: str | float | None = None
    seconds: float = 0.0
    text: str = ""
    route: str | None = None  # None: the model routes (chat completions, messages)

    @classmethod
    def rate_limit(cls, retry_after: str | float | None = 1, *, route: str | None = None) -> Fault:
        return cls("status", status=429, retry_after=retry_after, route=route)

    @classmethod
    def server_error(
        cls, status: int = 500, *, retry_after: str | float | None = None, route: str | None = None
    ) -> Fault:
        return cls("status", status=status, retry_after=retry_after, route=route)

    @classmethod
    def status_code(cls, status: int, *, route: str | None = None) -> Fault:
        return cls("status", status=status, route=route)

    @classmethod
    def hang(cls, seconds: float, *, route: str | None = None) -> Fault:
        """Sleep ``seconds`` before answering normally (longer than the client's timeout)."""
        return cls("hang", seconds=seconds, route=route)

    @classmethod
    def malformed(cls, *, route: str | None = None) -> Fault:
        """Status 200 with a body that is not valid JSON."""
        return cls("malformed", route=route)

    @classmethod
    def refusal(cls, text: str = "I'm sorry, but I can't help with that.", *, route: str | None = None) -> Fault:
        """A provider-flagged refusal (OpenAI ``refusal`` field / Anthropic stop_reason ``refusal``)."""
        return cls("refusal", text=text, route=route)

    @classmethod
    def drop(cls, *, route: str | None = None) -> Fault:
        """Close the connection without answering."""
        return cls("drop", route=route)


Responder = Callable[[ModelCall], "str | dict | list | ModelReply"]
Handler = Callable[[StubRequest], Any]

MODEL_ROUTES = ("POST /v1/chat/completions", "POST /v1/messages")


def default_responder(call: ModelCall) -> str:
    digest = hashlib.sha256((call.system + "\x00" + call.text).encode("utf-8")).hexdigest()[:12]
    return f"stub reply {digest} ({len(call.images)} image(s))"


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


# --- request decoding --------------------------------------------------------------


def _decode_data_url(url: str) -> bytes | None:
    if not url.startswith("data:"):
        return None
    _, _, b64 = url.partition(",")
    try:
        return base64.b64decode(b64)
    except ValueError:
        return None


def parse_openai_call(body: Mapping[str, Any], custom_id: str | None = None) -> ModelCall:
    system, texts, images = [], [], []
    for msg in body.get("messages") or []:
        role, content = msg.get("role"), msg.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])
        for part in parts:
            if part.get("type") == "text":
                (system if role in ("system", "developer") else texts if role == "user" else []).append(part["text"])
            elif part.get("type") == "image_url":
                data = _decode_data_url((part.get("image_url") or {}).get("url", ""))
                if data is not None:
                    images.append(data)
    return ModelCall(
        "openai", body.get("model", ""), "\n".join(system), "\n".join(texts), images, dict(body), custom_id
    )


def parse_anthropic_call(body: Mapping[str, Any], custom_id: str | None = None) -> ModelCall:
    sys_field = body.get("system") or ""
    system = sys_field if isinstance(sys_field, str) else "\n".join(b.get("text", "") for b in sys_field)
    texts, images = [], []
    for msg in body.get("messages") or []:
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])
        for part in parts:
            if part.get("type") == "text":
                texts.append(part["text"])
            elif part.get("type") == "image":
                src = part.get("source") or {}
                if src.get("type") == "base64":
                    images.append(base64.b64decode(src.get("data", "")))
    return ModelCall("anthropic", body.get("model", ""), system, "\n".join(texts), images, dict(body), custom_id)


# --- response bodies --------------------------------------------------------------


def _reply_of(out: Any) -> ModelReply:
    if isinstance(out, ModelReply):
        return out
    if isinstance(out, (dict, list)):
        return ModelReply(text=json.dumps(out, ensure_ascii=False))
    return ModelReply(text=str(out))


def _tokens(call: ModelCall, reply: ModelReply) -> tuple[int, int]:
    tin = (
        reply.input_tokens
        if reply.input_tokens is not None
        else estimate_tokens(call.system + call.text) + 85 * len(call.images)
    )
    tout = reply.output_tokens if reply.output_tokens is not None else estimate_tokens(reply.text or " ")
    return tin, tout


def openai_chat_body(call: ModelCall, reply: ModelReply, ident: str) -> dict[str, Any]:
    tin, tout = _tokens(call, reply)
    refusal = (
        reply.refusal if isinstance(reply.refusal, str) else ("I can't help with that." if reply.refusal else None)
    )
    return {
        "id": f"chatcmpl-{ident}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": call.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None if refusal else reply.text, "refusal": refusal},
                "finish_reason": reply.finish_reason or "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout},
    }


def anthropic_message_body(call: ModelCall, reply: ModelReply, ident: str) -> dict[str, Any]:
    tin, tout = _tokens(call, reply)
    text = reply.text if not reply.refusal else (reply.text or "")
    return {
        "id": f"msg_{ident}",
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": "refusal" if reply.refusal else (reply.finish_reason or "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": tin, "output_tokens": tout},
    }


def _openai_error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_exceeded"}.get(
        status, "server_error"
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


def _anthropic_error(status: int, message: str) -> dict[str, Any]:
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        429: "rate_limit_error",
        529: "overloaded_error",
    }.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the server -------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class APIStub:
    """The loopback server: routes, responder, faults, hit counters, batch simulation."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        routes: Mapping[str, Handler] | None = None,
        record: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.responder: Responder = responder or default_responder
        self.record = record
        self.hits: collections.Counter[str] = collections.Counter()
        self.hit_times: dict[str, list[float]] = collections.defaultdict(list)
        self.calls: list[ModelCall] = []  # model calls answered (sync and batch), when record
        self.faults: collections.deque[Fault] = collections.deque()
        # batch simulation: batches stay in progress while batch_hold, and for batch_polls polls each
        self.batch_hold = False
        self.batch_polls = 0
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.routes: dict[str, Handler] = {
            "POST /v1/chat/completions": self._chat_completions,
            "POST /v1/messages": self._messages,
            "POST /v1/files": self._files_create,
            "GET /v1/files/{file_id}": self._files_retrieve,
            "GET /v1/files/{file_id}/content": self._files_content,
            "POST /v1/batches": self._batches_create,
            "GET /v1/batches/{batch_id}": self._batches_retrieve,
            "POST /v1/messages/batches": self._msg_batches_create,
            "GET /v1/messages/batches/{batch_id}": self._msg_batches_retrieve,
            "GET /v1/messages/batches/{batch_id}/results": self._msg_batches_results,
        }
        if routes:
            self.routes.update(routes)
        self._compiled: dict[str, tuple[str, re.Pattern[str]]] = {}

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        handler = type("_BoundHandler", (_Handler,), {"stub": self})
        self._server = _Server((self._host, self._port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hung responses
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "stub not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    # --- scripting -----------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def reset(self) -> None:
        """Forget hits, recorded calls and queued faults (files and batches stay)."""
        with self._lock:
            self.hits.clear()
            self.hit_times.clear()
            self.calls.clear()
            self.faults.clear()

    @property
    def model_hits(self) -> int:
        return sum(self.hits[r] for r in MODEL_ROUTES)

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}{next(self._ids):06d}"

    def _take_fault(self, route: str) -> Fault | None:
        with self._lock:
            for i, f in enumerate(self.faults):
                if (f.route is None and route in MODEL_ROUTES) or f.route == route:
                    del self.faults[i]
                    return f
        return None

    def _match(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        for key in self.routes:
            if key not in self._compiled:
                m, _, pattern = key.partition(" ")
                if not pattern:  # a bare path matches any method
                    m, pattern = "*", key
                rx = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern)) + "$"
                self._compiled[key] = (m, re.compile(rx))
            m, rx = self._compiled[key]
            if m not in ("*", method):
                continue
            found = rx.match(path)
            if found:
                return key, found.groupdict()
        return None

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # --- model replies ---------------------------------------------------------------

    def _respond(self, call: ModelCall) -> ModelReply:
        if self.record:
            with self._lock:
                self.calls.append(call)
        return _reply_of(self.responder(call))

    def _model_route(self, req: StubRequest, provider: str) -> StubResponse:
        body = req.json()
        call = parse_openai_call(body) if provider == "openai" else parse_anthropic_call(body)
        fault = req.fault
        if fault is not None and fault.kind == "refusal":
            if self.record:
                with self._lock:
                    self.calls.append(call)
            reply = ModelReply(text="" if provider == "openai" else fault.text, refusal=fault.text or True)
        else:
            try:
                reply = self._respond(call)
            except StubError as e:
                err = (
                    _openai_error(e.status, e.message)
                    if provider == "openai"
                    else _anthropic_error(e.status, e.message)
                )
                return StubResponse(e.status, err, headers=e.headers)
        ident = self._next_id("")
        out = (
            openai_chat_body(call, reply, ident) if provider == "openai" else anthropic_message_body(call, reply, ident)
        )
        return StubResponse(200, out)

    def _chat_completions(self, req: StubRequest) -> StubResponse:
        return self._model_route(req, "openai")

    def _messages(self, req: StubRequest) -> StubResponse:
        return self._model_route(req, "anthropic")

    # --- OpenAI files and batches -----------------------------------------------------------

    def _file_obj(self, f: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": f["id"],
            "object": "file",
            "bytes": len(f["data"]),
            "created_at": int(f["created_at"]),
            "filename": f["filename"],
            "purpose": f["purpose"],
            "status": "processed",
        }

    def _add_file(self, filename: str, data: bytes, purpose: str) -> dict[str, Any]:
        f = {
            "id": self._next_id("file-"),
            "filename": filename,
            "data": data,
            "purpose": purpose,
            "created_at": time.time(),
        }
        with self._lock:
            self.files[f["id"]] = f
        return f

    def _files_create(self, req: StubRequest) -> Any:
        form = req.form()
        upload = form.get("file")
        if not isinstance(upload, tuple):
            raise StubError(400, "no file in the upload")
        f = self._add_file(upload[0], upload[1], str(form.get("purpose", "")))
        return self._file_obj(f)

    def _files_retrieve(self, req: StubRequest) -> Any:
        f = self.files.get(req.params["file_id"])
        if f is None:
            raise StubError(404, "no such file")
        return self._file_obj(f)

    def _files_content(self, req: StubRequest) -> Any:
        f = self.files.get(req.params["file_id"])
        if f is None:
            raise StubError(404, "no such file")
        return StubResponse(200, f["data"], content_type="application/octet-stream")

    def _batch_obj(self, b: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": b["id"],
            "object": "batch",
            "endpoint": b["endpoint"],
            "input_file_id": b["input_file_id"],
            "completion_window": "24h",
            "status": b["status"],
            "output_file_id": b.get("output_file_id"),
            "error_file_id": b.get("error_file_id"),
            "created_at": int(b["created_at"]),
            "completed_at": b.get("completed_at"),
            "request_counts": b["request_counts"],
            "metadata": b.get("metadata"),
        }

    def _batches_create(self, req: StubRequest) -> Any:
        body = req.json()
        if body.get("input_file_id") not in self.files:
            raise StubError(400, "input_file_id not found")
        n = len([ln for ln in self.files[body["input_file_id"]]["data"].splitlines() if ln.strip()])
        b = {
            "id": self._next_id("batch_"),
            "endpoint": body.get("endpoint"),
            "input_file_id": body["input_file_id"],
            "status": "in_progress",
            "created_at": time.time(),
            "metadata": body.get("metadata"),
            "polls": 0,
            "request_counts": {"total": n, "completed": 0, "failed": 0},
        }
        with self._lock:
            self.batches[b["id"]] = b
        return self._batch_obj(b)

    def _ready(self, b: dict[str, Any]) -> bool:
        with self._lock:
            b["polls"] += 1
            return not self.batch_hold and b["polls"] > self.batch_polls

    def _batches_retrieve(self, req: StubRequest) -> Any:
        b = self.batches.get(req.params["batch_id"])
        if b is None:
            raise StubError(404, "no such batch")
        if b["status"] == "in_progress" and self._ready(b):
            self._run_openai_batch(b)
        return self._batch_obj(b)

    def _run_openai_batch(self, b: dict[str, Any]) -> None:
        out_lines, err_lines = [], []
        for line in self.files[b["input_file_id"]]["data"].decode("utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            call = parse_openai_call(item["body"], item["custom_id"])
            ident = self._next_id("")
            try:
                reply = self._respond(call)
            except StubError as e:
                err_lines.append(
                    {
                        "id": f"batch_req_{ident}",
                        "custom_id": item["custom_id"],
                        "response": {
                            "status_code": e.status,
                            "request_id": ident,
                            "body": _openai_error(e.status, e.message),
                        },
                        "error": None,
                    }
                )
                continue
            out_lines.append(
                {
                    "id": f"batch_req_{ident}",
                    "custom_id": item["custom_id"],
                    "response": {"status_code": 200, "request_id": ident, "body": openai_chat_body(call, reply, ident)},
                    "error": None,
                }
            )
        if out_lines:
            b["output_file_id"] = self._add_file("output.jsonl", _jsonl(out_lines), "batch_output")["id"]
        if err_lines:
            b["error_file_id"] = self._add_file("errors.jsonl", _jsonl(err_lines), "batch_output")["id"]
        b["request_counts"] = {
            "total": len(out_lines) + len(err_lines),
            "completed": len(out_lines),
            "failed": len(err_lines),
        }
        b["status"] = "completed"
        b["completed_at"] = int(time.time())

    # --- Anthropic message batches --------------------------------------------------------------

    def _msg_batch_obj(self, b: Mapping[str, Any]) -> dict[str, Any]:
        ended = b["processing_status"] == "ended"
        return {
            "id": b["id"],
            "type": "message_batch",
            "processing_status": b["processing_status"],
            "request_counts": b["request_counts"],
            "created_at": _iso(b["created_at"]),
            "expires_at": _iso(b["created_at"] + 86400),
            "ended_at": _iso(b["ended_at"]) if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{b['id']}/results" if ended else None,
        }

    def _msg_batches_create(self, req: StubRequest) -> Any:
        body = req.json()
        requests = body.get("requests") or []
        b = {
            "id": self._next_id("msgbatch_"),
            "requests": requests,
            "processing_status": "in_progress",
            "created_at": time.time(),
            "polls": 0,
            "request_counts": {"processing": len(requests), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
        }
        with self._lock:
            self.batches[b["id"]] = b
        return self._msg_batch_obj(b)

    def _msg_batches_retrieve(self, req: StubRequest) -> Any:
        b = self.batches.get(req.params["batch_id"])
        if b is None:
            raise StubError(404, "no such batch")
        if b["processing_status"] == "in_progress" and self._ready(b):
            self._run_anthropic_batch(b)
        return self._msg_batch_obj(b)

    def _run_anthropic_batch(self, b: dict[str, Any]) -> None:
        lines, ok, bad = [], 0, 0
        for item in b["requests"]:
            call = parse_anthropic_call(item["params"], item["custom_id"])
            ident = self._next_id("")
            try:
                reply = self._respond(call)
            except StubError as e:
                bad += 1
                lines.append(
                    {
                        "custom_id": item["custom_id"],
                        "result": {"type": "errored", "error": _anthropic_error(e.status, e.message)},
                    }
                )
                continue
            ok += 1
            lines.append(
                {
                    "custom_id": item["custom_id"],
                    "result": {"type": "succeeded", "message": anthropic_message_body(call, reply, ident)},
                }
            )
        b["results"] = _jsonl(lines)
        b["request_counts"] = {"processing": 0, "succeeded": ok, "errored": bad, "canceled": 0, "expired": 0}
        b["processing_status"] = "ended"
        b["ended_at"] = time.time()

    def _msg_batches_results(self, req: StubRequest) -> Any:
        b = self.batches.get(req.params["batch_id"])
        if b is None or b.get("processing_status") != "ended":
            raise StubError(404, "results not available")
        return StubResponse(200, b["results"], content_type="application/binary")


def _jsonl(items: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(x) + "\n" for x in items).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls
    stub: APIStub
    server_version = "echo-bench-api-stub/1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _dispatch(self) -> None:
        stub = self.stub
        split = urlsplit(self.path)
        path = split.path
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        matched = stub._match(self.command, path)
        if matched is None:
            key = f"404 {self.command} {path}"
            with stub._lock:
                stub.hits[key] += 1
            self._send(
                StubResponse(404, {"error": {"message": f"no route {self.command} {path}", "type": "not_found"}}), path
            )
            return
        route, params = matched
        with stub._lock:
            stub.hits[route] += 1
            stub.hit_times[route].append(time.monotonic())
        req = StubRequest(
            method=self.command,
            path=path,
            route=route,
            params=params,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            stub=stub,
            fault=stub._take_fault(route),
        )
        fault = req.fault
        anthropic_style = path.startswith("/v1/messages")
        if fault is not None and fault.kind == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            err = (_anthropic_error if anthropic_style else _openai_error)(fault.status, f"injected {fault.status}")
            self._send(StubResponse(fault.status, err, headers=headers), path)
            return
        if fault is not None and fault.kind == "hang":
            stub._sleep(fault.seconds)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            return
        if fault is not None and fault.kind == "malformed":
            self._send(
                StubResponse(200, b'{"id": "broken", "choices": [{"message": ', content_type="application/json"), path
            )
            return
        try:
            out = stub.routes[route](req)
        except StubError as e:
            err = (_anthropic_error if anthropic_style else _openai_error)(e.status, e.message)
            out = StubResponse(e.status, err, headers=e.headers)
        except Exception as e:  # noqa: BLE001 - a broken handler answers 500, the server keeps running
            out = StubResponse(500, {"error": {"message": f"stub handler failed: {type(e).__name__}: {e}"}})
        self._send(_as_response(out), path)

    def _send(self, resp: StubResponse, path: str) -> None:
        body = resp.body
        ctype = resp.content_type
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode("utf-8")
            ctype = ctype or "application/json"
        elif isinstance(body, str):
            data = body.encode("utf-8")
            ctype = ctype or "text/plain; charset=utf-8"
        else:
            data = body or b""
            ctype = ctype or "application/octet-stream"
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    do_GET = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_DELETE = _dispatch
    do_PATCH = _dispatch


def _as_response(out: Any) -> StubResponse:
    if isinstance(out, StubResponse):
        return out
    if isinstance(out, tuple):
        status, body = out[0], out[1]
        headers = out[2] if len(out) > 2 else {}
        return StubResponse(status, body, headers=dict(headers))
    return StubResponse(200, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Serve the loopback OpenAI/Anthropic API stub until interrupted.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--reply", default=None, help="fixed reply text (default: a digest of the request)")
    args = ap.parse_args(argv)
    responder = (lambda call: args.reply) if args.reply is not None else None
    stub = APIStub(responder, record=False, port=args.port).start()
    print(f"api stub listening on {stub.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

__all__ = [
    "APIStub",
    "Fault",
    "ModelCall",
    "ModelReply",
    "StubError",
    "StubRequest",
    "StubResponse",
    "anthropic_message_body",
    "default_responder",
    "openai_chat_body",
    "parse_anthropic_call",
    "parse_openai_call",
]
