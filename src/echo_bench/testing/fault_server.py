"""A fault-injecting OpenAI-compatible chat server on 127.0.0.1, for failure tests.

    def plan(req: ChatRequest) -> Answer:
        if "post 7" in req.user_text:
            return Answer.error(500, "boom")
        return Answer.json({"score": 4, "reason": "clear"})

    with FaultServer(plan) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        ...
        assert server.count() == 3

Each ``POST /v1/chat/completions`` is decoded into a :class:`ChatRequest`
(model, the user turns' text, the number of turns, the Authorization key) and
answered with what ``plan`` returns: a reply (text or JSON, billed with token
counts), an HTTP error with any message (e.g. one that echoes the key back, as
some proxies do), a hang before answering, a malformed or truncated body, or a
dropped connection.  Every request is recorded (:attr:`FaultServer.requests`)
with the time it arrived and whether it was answered.

The server listens on 127.0.0.1, port 0 (a free port), in daemon threads; it
stops when the ``with`` block ends, or by itself after ``lifetime_s`` seconds,
so a test that dies cannot leave it running.  A separate process (a ``dvc
repro`` started by a test) reaches it at :attr:`base_url`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

ROUTE = "/v1/chat/completions"


@dataclass(frozen=True)
class ChatRequest:
    model: str
    user_text: str  # the text of every user turn, joined with newlines
    turns: int  # messages in the request (a repair re-ask has more)
    api_key: str  # the bearer token sent
    body: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """What the server does with one request."""

    kind: str  # reply | error | malformed | truncated | drop
    status: int = 200
    text: str = ""
    message: str = ""
    delay_s: float = 0.0  # wait before answering (a hang past the client's timeout)
    headers: dict[str, str] = field(default_factory=dict)
    input_tokens: int = 100
    output_tokens: int = 20

    @classmethod
    def reply(cls, text: str, *, delay_s: float = 0.0, input_tokens: int = 100, output_tokens: int = 20) -> Answer:
        return cls("reply", text=text, delay_s=delay_s, input_tokens=input_tokens, output_tokens=output_tokens)

    @classmethod
    def json(cls, value: Any, **kw: Any) -> Answer:
        return cls.reply(json.dumps(value), **kw)

    @classmethod
    def error(cls, status: int, message: str, *, headers: dict[str, str] | None = None, delay_s: float = 0.0) -> Answer:
        return cls("error", status=status, message=message, headers=dict(headers or {}), delay_s=delay_s)

    @classmethod
    def malformed(cls) -> Answer:
        return cls("malformed")

    @classmethod
    def truncated(cls) -> Answer:
        return cls("truncated")

    @classmethod
    def drop(cls) -> Answer:
        return cls("drop")


Plan = Callable[[ChatRequest], Answer]


@dataclass
class Seen:
    request: ChatRequest
    answer: Answer
    at: float
    answered: bool = False


def _user_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for m in body.get("messages") or []:
        if m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"]
    return "\n".join(parts)


class FaultServer:
    def __init__(self, plan: Plan, *, lifetime_s: float = 600.0) -> None:
        self.plan = plan
        self.lifetime_s = lifetime_s
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None
        self._url: str | None = None

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        threading.Thread(target=self._httpd.serve_forever, name="fault-server", daemon=True).start()
        self._timer = threading.Timer(self.lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._url is not None, "server not started"
        return self._url  # kept after stop, for messages

    # --- what was seen --------------------------------------------------------------

    def count(self, predicate: Callable[[Seen], bool] | None = None) -> int:
        with self._lock:
            return sum(1 for s in self.requests if predicate is None or predicate(s))

    def answered(self) -> int:
        return self.count(lambda s: s.answered)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- serving --------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        if h.path.split("?")[0] != ROUTE:
            self._send(h, 404, {"error": {"message": f"no route {h.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(h, 400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        auth = h.headers.get("authorization") or ""
        req = ChatRequest(
            model=str(body.get("model", "")),
            user_text=_user_text(body),
            turns=len(body.get("messages") or []),
            api_key=auth.removeprefix("Bearer ").strip(),
            body=body,
        )
        answer = self.plan(req)
        seen = Seen(req, answer, time.monotonic())
        with self._lock:
            self.requests.append(seen)
        if answer.delay_s:
            time.sleep(answer.delay_s)
        if answer.kind == "drop":
            h.close_connection = True
            h.connection.close()
            return
        if answer.kind == "error":
            self._send(h, answer.status, {"error": {"message": answer.message, "type": "fault"}}, answer.headers)
        elif answer.kind == "malformed":
            self._send_raw(h, 200, b"{this is not json")
        elif answer.kind == "truncated":
            full = json.dumps(self._completion(req, answer)).encode()
            self._send_raw(h, 200, full[: len(full) // 2], length=len(full))
        else:
            self._send(h, 200, self._completion(req, answer))
        seen.answered = True

    @staticmethod
    def _completion(req: ChatRequest, a: Answer) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fault",
            "object": "chat.completion",
            "created": 0,
            "model": req.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": a.text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": a.input_tokens,
                "completion_tokens": a.output_tokens,
                "total_tokens": a.input_tokens + a.output_tokens,
            },
        }

    def _send(self, h: BaseHTTPRequestHandler, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(h, status, json.dumps(doc).encode(), headers=headers)

    @staticmethod
    def _send_raw(
        h: BaseHTTPRequestHandler,
        status: int,
        data: bytes,
        *,
        length: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            h.send_response(status)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(data) if length is None else length))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
            if length is not None:
                h.close_connection = True
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): nothing to answer
            pass
