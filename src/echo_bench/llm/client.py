"""LLMClient: templates in, validated replies out, through a content-addressed cache.

One client serves one backend configuration (one stage's cfg).  ``run`` renders
every request, answers what it can from the response cache, sends the rest
(synchronously with bounded concurrency, or through the provider's batch API),
retries what is worth retrying, validates JSON replies, caches successes, and
returns one :class:`LLMReply` per request, in order.  It never raises for a
failed request: the reply carries ``ok=False`` and the reason.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

from echo_bench import prompts
from echo_bench.io import atomic_path
from echo_bench import secrets
from echo_bench.llm.backends import (
    BACKENDS,
    JSON_REPAIR_NOTE,
    Backend,
    Prepared,
    Result,
    Settings,
    api_key_from_env,
)
from echo_bench.llm.cache import ImageHasher, ResponseCache, cache_key
from echo_bench.llm.replies import InvalidReply, looks_like_refusal, parse_json_reply, schema_digest
from echo_bench.llm.retry import CallError, RetryPolicy
from echo_bench.llm.types import LLMReply, LLMRequest, LLMStageError
from echo_bench.llm.usage import LEDGER_NAME, Ledger, UsageMeter, cost_usd

OfflineFn = Callable[[LLMRequest], "str | dict | list"]

#: Every cfg key a client understands, with the value used when the cfg omits it.
#: Stages pass complete cfgs from params.yaml; these defaults serve tests and notebooks.
DEFAULTS: dict[str, Any] = {
    "backend": "offline",  # openai | anthropic | offline
    "model": None,  # provider model name; offline: "offline-heuristic" unless named
    "base_url": None,  # any OpenAI-compatible endpoint (vLLM, OpenRouter, Ollama, Gemini), or an Anthropic proxy
    "api_key_env": None,  # name of the environment variable holding the key (None: no key, e.g. local vLLM)
    "max_concurrency": 8,
    "timeout_s": 120.0,  # per attempt
    "max_retries": 4,  # attempts = 1 + max_retries
    "temperature": 0.0,  # None: do not send (models that reject it)
    "max_tokens": 2048,
    "batch": False,  # use the provider's batch API for requests not in the cache
    # finer knobs
    "json_mode": False,  # openai: response_format json_object for requests with a json_schema
    "image_detail": None,  # openai: low | high | auto
    "image_max_side": None,  # downscale larger images before sending (pixels), None: send as is
    "max_tokens_field": None,  # openai: max_tokens | max_completion_tokens; None: the latter for api.openai.com
    "backoff_base_s": 1.0,
    "backoff_max_s": 60.0,
    "max_retry_after_s": 300.0,  # a server asking to wait longer fails the request (rate_limited)
    "seed": 0,  # of the backoff jitter
    "batch_poll_s": 30.0,
    "batch_timeout_s": 86400.0,  # stop polling after this; unfinished requests fail with batch_pending
    "batch_max_requests": 10000,
    "batch_max_bytes": 150_000_000,
    "batch_fallback_sync": True,  # retry batch failures (errored, invalid JSON) with synchronous calls
    "trust_media_names": True,  # a file named <sha256>.<ext> is hashed by its name
}

#: Codes no retry and no other request of the run can fix: the first one stops the stage (preflight).
FATAL_CODES = frozenset({"missing_api_key", "http_401", "http_403", "http_404", "connection_refused", "dns_failed"})
#: Failures of the input, not of the calls: quarantined by the stage, not counted against max_failed_share.
INPUT_CODES = frozenset({"render_failed", "image_missing", "payload_failed"})

#: The re-ask after a free-text reply its request's ``check`` rejected (``LLMRequest.repair_note`` overrides it).
TEXT_REPAIR_NOTE = (
    "Your previous reply could not be used: {error}. Reply again, following the reply format the "
    "instructions ask for exactly."
)

OFFLINE_MODEL = "offline-heuristic"


def resolve_cfg(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``cfg`` completed with :data:`DEFAULTS`; unknown keys are an error (typos in params.yaml)."""
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown llm cfg keys {unknown}; known: {sorted(DEFAULTS)}")
    out = {**DEFAULTS, **{k: v for k, v in cfg.items()}}
    if out["backend"] not in ("offline", *BACKENDS):
        raise ValueError(f"llm backend must be one of offline, {', '.join(BACKENDS)}; got {out['backend']!r}")
    if out["backend"] != "offline" and not out["model"]:
        raise ValueError(f"llm backend {out['backend']!r} needs a model")

    if out["max_tokens_field"] is None:
        official = out["backend"] == "openai" and not out["base_url"]
        out["max_tokens_field"] = "max_completion_tokens" if official else "max_tokens"
    return out


def make_client(
    cfg: Mapping[str, Any],
    *,
    cache_dir: str | os.PathLike[str],
    offline: OfflineFn | None = None,
    prices: Mapping[str, Any] | None = None,
    log: logging.Logger | None = None,
    stage: str | None = None,
    max_failed_share: float | None = None,
) -> LLMClient:
    """A client for one stage's cfg (see :data:`DEFAULTS` for the keys).

    ``stage`` names the stage in messages, the usage ledger and llm_usage.json
    (default: the logger's name without ``echo_bench.``).  ``max_failed_share``
    is the stage's failure policy (``<stage>.max_failed_share`` in params.yaml):
    with a number, :meth:`LLMClient.run` raises :class:`LLMStageError` on a
    failed preflight or when more than that share of the requests failed; with
    None (library use) it never raises.
    """
    return LLMClient(
        resolve_cfg(cfg),
        cache_dir=cache_dir,
        offline=offline,
        prices=prices,
        log=log,
        stage=stage,
        max_failed_share=check_share(max_failed_share),
    )


#: The failure policy of a stage whose params give none: any failed request fails the stage (docs/llm.md).
DEFAULT_MAX_FAILED_SHARE = 0.0


def check_share(value: Any, name: str = "max_failed_share") -> float | None:
    """``value`` as a share in [0, 1] (None passes); anything else is a misconfiguration."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1]; got {value!r}")
    return float(value)


def _fail(code: str, detail: str, **kw: Any) -> LLMReply:
    return LLMReply(ok=False, error=secrets.redact(f"{code}: {detail}"), **kw)


def _check(prep: Prepared, text: str) -> str | None:
    """The request's own check of a free-text reply: None when usable, else the reason."""
    check = prep.request.check
    if check is None:
        return None
    try:
        return check(text)
    except Exception as e:  # noqa: BLE001 - a crashing check rejects the reply, it does not crash the stage
        return f"reply check raised {type(e).__name__}: {e}"


def _redacted(result: Result) -> Result:
    """A provider's reply with the key values removed before anything parses, caches or records it."""
    result.text = secrets.redact(result.text)
    if isinstance(result.refusal, str):
        result.refusal = secrets.redact(result.refusal)
    return result


def _rejected(attempt: int, err: CallError) -> dict[str, Any]:
    """A rejected reply as kept beside the failure: attempt number, reason, verbatim text (secrets redacted)."""
    return {"attempt": attempt, "error": secrets.redact(err.message), "text": secrets.redact(err.text)}


class LLMClient:
    def __init__(
        self,
        cfg: Mapping[str, Any],
        *,
        cache_dir: str | os.PathLike[str],
        offline: OfflineFn | None = None,
        prices: Mapping[str, Any] | None = None,
        log: logging.Logger | None = None,
        stage: str | None = None,
        max_failed_share: float | None = None,
    ) -> None:
        self.cfg = dict(cfg)
        secrets.register(self.cfg.get("api_key_env"))
        self.backend_name: str = cfg["backend"]
        if self.backend_name == "offline":
            self.model: str = cfg["model"] or OFFLINE_MODEL
        else:
            self.model = cfg["model"]
        self.cache = ResponseCache(cache_dir)
        self.offline = offline
        self.prices = prices or {}
        self.log = log or logging.getLogger("echo_bench.llm")
        self.stage = stage or self.log.name.removeprefix("echo_bench.")
        self.ledger = Ledger(Path(cache_dir) / LEDGER_NAME)
        self.max_failed_share = max_failed_share
        self.meter = UsageMeter()
        self.policy = RetryPolicy(
            max_retries=int(cfg["max_retries"]),
            backoff_base_s=float(cfg["backoff_base_s"]),
            backoff_max_s=float(cfg["backoff_max_s"]),
            max_retry_after_s=float(cfg["max_retry_after_s"]),
            seed=int(cfg["seed"]),
        )
        self.settings = Settings(
            model=self.model,
            temperature=None if cfg["temperature"] is None else float(cfg["temperature"]),
            max_tokens=int(cfg["max_tokens"]),
            json_mode=bool(cfg["json_mode"]),
            image_detail=cfg["image_detail"],
            image_max_side=cfg["image_max_side"],
            max_tokens_field=cfg["max_tokens_field"],
        )
        self._hasher = ImageHasher(trust_names=bool(cfg["trust_media_names"]))
        self._backend: Backend | None = None
        self._warned_unpriced = False
        self._warn_lock = threading.Lock()
        if self.backend_name == "offline" and offline is None:
            raise ValueError("the offline backend needs the stage's heuristic: make_client(..., offline=fn)")

    # --- public ------------------------------------------------------------------------

    def run(self, requests: Sequence[LLMRequest]) -> list[LLMReply]:
        """One reply per request, in order.  Never raises for a failed request."""
        t0 = time.monotonic()
        n = len(requests)
        replies: list[LLMReply | None] = [None] * n
        preps: list[Prepared] = []
        for i, req in enumerate(requests):
            prep_or_fail = self._prepare(i, req)
            if isinstance(prep_or_fail, LLMReply):
                replies[i] = prep_or_fail
            else:
                preps.append(prep_or_fail)

        n_sent = 0
        if self.backend_name == "offline":
            for prep in preps:
                replies[prep.index] = self._offline_reply(prep)
        else:
            misses: list[Prepared] = []
            for prep in preps:
                hit = self._from_cache(prep)
                if hit is not None:
                    replies[prep.index] = hit
                else:
                    misses.append(prep)
            groups: dict[str, list[Prepared]] = {}
            for prep in misses:
                groups.setdefault(prep.cache_key, []).append(prep)
            unique = [g[0] for g in groups.values()]
            try:
                results = self._answer(unique) if unique else {}
            except LLMStageError:
                raise  # the stage cannot do its job: no reply is worth returning
            except Exception as e:  # run() never raises for failed requests
                self.log.exception("llm: unexpected failure while answering %d request(s)", len(unique))
                results = {
                    p.cache_key: _fail(
                        "unexpected",
                        f"{type(e).__name__}: {e}",
                        cache_key=p.cache_key,
                        **self._base_reply(p.template, p.request),
                    )
                    for p in unique
                }
            n_sent = sum(1 for r in results.values() if r.attempts > 0)
            for key, group in groups.items():
                first = results[key]
                replies[group[0].index] = replace(first, key=group[0].request.key)
                for dup in group[1:]:
                    # an identical request in the same run: served once, like a cache hit
                    replies[dup.index] = replace(
                        first,
                        key=dup.request.key,
                        data=copy.deepcopy(first.data),
                        cached=first.ok,
                        input_tokens=0,
                        output_tokens=0,
                        cost_usd=0.0,
                        attempts=0,
                    )
        out = [r for r in replies if r is not None]
        assert len(out) == n
        self._account(out)
        self._log_summary(out, n_sent, time.monotonic() - t0)
        self._enforce_failure_policy(out)
        return out

    def failure_counts(self, replies: Sequence[LLMReply]) -> dict[str, Any]:
        """Failed requests of a run: those counted against ``max_failed_share`` and those of bad input."""
        calls = [r for r in replies if (r.error_code or "") not in INPUT_CODES]
        failed = [r for r in calls if not r.ok]
        return {
            "requests": len(calls),
            "failed": len(failed),
            "input_failed": sum(1 for r in replies if (r.error_code or "") in INPUT_CODES),
            "share": len(failed) / len(calls) if calls else 0.0,
        }

    def _enforce_failure_policy(self, replies: Sequence[LLMReply]) -> None:
        """Raise :class:`LLMStageError` on a fatal failure or too many failures; warn about the rest."""
        fatal = [r for r in replies if (r.error_code or "") in FATAL_CODES]
        if fatal and self.max_failed_share is not None:
            raise LLMStageError(self._fatal_message(fatal[0].error_code or "", fatal[0].error or ""))
        c = self.failure_counts(replies)
        if not c["failed"]:
            return
        codes: dict[str, int] = {}
        for r in replies:
            if not r.ok and (r.error_code or "") not in INPUT_CODES:
                codes[r.error_code or "?"] = codes.get(r.error_code or "?", 0) + 1
        what = (
            f"stage {self.stage}: {c['failed']} of {c['requests']} LLM request(s) failed "
            f"({100 * c['share']:.1f}%; {json.dumps(codes, sort_keys=True)}; {self.backend_name} {self.model}"
            f"{' at ' + self._url() if self.backend_name != 'offline' else ''})"
        )
        if self.max_failed_share is None:
            return  # library use: the caller reads the replies
        if c["share"] > self.max_failed_share:
            raise LLMStageError(
                secrets.redact(
                    f"{what}, more than max_failed_share={self.max_failed_share:g}: the stage fails and writes "
                    f"nothing. Successful replies are cached, so `dvc repro` after the cause is fixed sends only "
                    f"the failed requests. First failure: {next(r.error for r in replies if not r.ok)}"
                )
            )
        self.log.warning(
            "%s, within max_failed_share=%g: the stage goes on and records them (quarantine / status columns, "
            "stage summary, llm_usage.json). DVC now considers the stage done; to retry only the failed "
            "requests run `dvc repro -f -s %s` and then `dvc repro`.",
            what,
            self.max_failed_share,
            self.stage.split(":", 1)[0],
        )

    def _url(self) -> str:
        if self.backend_name == "offline":
            return "(offline)"
        return self.backend.url

    def _fatal_message(self, code: str, error: str) -> str:
        env = self.cfg["api_key_env"]
        hint = {
            "missing_api_key": f"export {env}=<your key> (the cfg names it in api_key_env)",
            "http_401": f"the server rejected the key in {env or '(no api_key_env: no key sent)'}",
            "http_403": f"the key in {env or '(no api_key_env)'} may not use model {self.model} or this endpoint",
            "http_404": f"model {self.model!r} (or the API path) does not exist at this base_url",
            "connection_refused": "nothing listens at base_url: check its host and port, or start the server",
            "dns_failed": "the host of base_url does not resolve: check its spelling",
        }.get(code, "")
        return secrets.redact(
            f"stage {self.stage}: preflight failed for backend {self.backend_name}, model {self.model}, "
            f"URL {self._url()}: {error}. {hint}. No retry can fix this, so the stage stops before sending "
            f"more requests and writes nothing."
        )

    def cache_key(self, request: LLMRequest) -> str | None:
        """The content address the reply to ``request`` has (or would have) in the cache; None if it cannot render."""
        prep = self._prepare(0, request)
        return None if isinstance(prep, LLMReply) else prep.cache_key

    def cached(self, request: LLMRequest) -> bool:
        """Whether a usable reply to ``request`` is in the cache (no call is made)."""
        prep = self._prepare(0, request)
        return not isinstance(prep, LLMReply) and self._from_cache(prep) is not None

    def usage(self) -> dict[str, dict[str, Any]]:
        """Totals of this client by model: requests, calls, cached, failed, attempts, tokens, cost_usd."""
        return self.meter.snapshot()

    # --- preparing ---------------------------------------------------------------------

    def _base_reply(self, template: str, req: LLMRequest) -> dict[str, Any]:
        return {"backend": self.backend_name, "model": self.model, "template": template, "key": req.key}

    def _prepare(self, index: int, req: LLMRequest) -> Prepared | LLMReply:
        ident = req.template
        try:
            tpl = prompts.load(req.template)
            ident = tpl.ident
            rendered = tpl.render(req.variables)
        except prompts.TemplateError as e:
            return _fail("render_failed", str(e), **self._base_reply(ident, req))
        except Exception as e:  # noqa: BLE001 - a bad variable value must not crash the stage
            return _fail("render_failed", f"{type(e).__name__}: {e}", **self._base_reply(ident, req))
        hashes: tuple[str, ...] = ()
        if self.backend_name != "offline":
            try:
                hashes = tuple(self._hasher(p) for p in req.images)
            except OSError as e:
                return _fail("image_missing", f"{e}", **self._base_reply(ident, req))
        salt = {k: v for k, v in req.variables.items() if k.startswith("_")}
        key = cache_key(
            {
                "backend": self.backend_name,
                "model": self.model,
                "template": ident,
                "system": rendered.system,
                "user": rendered.user,
                "images": list(hashes),
                "params": self.settings.key_material(),
                "schema": schema_digest(req.json_schema),
                "salt": salt,
            }
        )
        return Prepared(
            index=index,
            request=req,
            template=ident,
            system=rendered.system,
            user=rendered.user,
            image_paths=tuple(req.images),
            image_hashes=hashes,
            schema=req.json_schema,
            cache_key=key,
        )

    # --- offline -------------------------------------------------------------------------

    def _offline_reply(self, prep: Prepared) -> LLMReply:
        base = self._base_reply(prep.template, prep.request)
        assert self.offline is not None
        try:
            out = self.offline(prep.request)
        except Exception as e:  # noqa: BLE001
            return _fail("offline_error", f"{type(e).__name__}: {e}", attempts=1, **base)
        if isinstance(out, str):
            text, data = out, None
            if prep.schema is not None:
                try:
                    data = parse_json_reply(text, prep.schema)
                except InvalidReply as e:
                    return _fail("invalid_json", str(e), text=text, attempts=1, **base)
        elif isinstance(out, (Mapping, list)):
            data = out
            text = json.dumps(out, sort_keys=True, ensure_ascii=False, default=str)
            if prep.schema is not None:
                try:
                    data = parse_json_reply(text, prep.schema)
                except InvalidReply as e:
                    return _fail("invalid_json", str(e), text=text, attempts=1, **base)
        else:
            return _fail("offline_error", f"heuristic returned {type(out).__name__}", attempts=1, **base)
        if prep.schema is None:
            problem = _check(prep, text)
            if problem is not None:
                err = CallError("unparsed_reply", problem, retryable=False, text=text)
                return _fail("unparsed_reply", problem, text=text, attempts=1, rejected=(_rejected(1, err),), **base)
        return LLMReply(ok=True, text=text, data=data, attempts=1, cache_key=prep.cache_key, **base)

    # --- cache ---------------------------------------------------------------------------

    def _from_cache(self, prep: Prepared) -> LLMReply | None:
        entry = self.cache.get(prep.cache_key)
        if entry is None:
            return None
        text = entry.get("text", "")
        data = None
        if prep.schema is not None:
            try:
                data = parse_json_reply(text, prep.schema)
            except InvalidReply:
                return None  # not usable any more: ask again, the new reply replaces it
        elif _check(prep, text) is not None:
            return None  # the request's check rejects it (e.g. an older parser accepted it): ask again
        return LLMReply(
            ok=True,
            text=text,
            data=data,
            cached=True,
            cache_key=prep.cache_key,
            **self._base_reply(prep.template, prep.request),
        )

    def _store(self, prep: Prepared, result: Result, *, via: str) -> None:
        try:
            self._put(prep, result, via=via)
        except OSError as e:  # a full disk must not turn a good reply into a failure
            self.log.warning("llm: could not write cache entry %s: %s", prep.cache_key, e)

    def _put(self, prep: Prepared, result: Result, *, via: str) -> None:
        self.cache.put(
            prep.cache_key,
            {
                "backend": self.backend_name,
                "model": self.model,
                "template": prep.template,
                "prompt_sha256": hashlib.sha256((prep.system + "\x00" + prep.user).encode("utf-8")).hexdigest(),
                "images": list(prep.image_hashes),
                "params": self.settings.key_material(),
                "text": secrets.redact(result.text),
                "input_tokens": result.input_tokens,
                "output_tokens": result.output_tokens,
                "finish_reason": result.finish_reason,
                "response_model": result.response_model,
                "via": via,
            },
        )

    # --- calling -------------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            cls = BACKENDS[self.backend_name]
            self._backend = cls(
                self.settings,
                api_key=api_key_from_env(self.cfg["api_key_env"]),
                base_url=self.cfg["base_url"],
                timeout_s=float(self.cfg["timeout_s"]),
            )
        return self._backend

    def _answer(self, unique: list[Prepared]) -> dict[str, LLMReply]:
        env = self.cfg["api_key_env"]
        if env and not api_key_from_env(env):
            detail = f"environment variable {env} is not set"
            if self.max_failed_share is not None:
                raise LLMStageError(self._fatal_message("missing_api_key", f"missing_api_key: {detail}"))
            return {
                p.cache_key: _fail(
                    "missing_api_key", detail, cache_key=p.cache_key, **self._base_reply(p.template, p.request)
                )
                for p in unique
            }
        _ = self.backend  # built once here, not raced for by the worker threads
        if self.cfg["batch"]:
            out = self._run_batch(unique)
            for r in out.values():
                self._record(r)
            return out
        return self._run_sync(unique)

    def _sync_call(self, prep: Prepared) -> LLMReply:
        reply = self._call_with_retries(prep)
        self._record(reply)
        return reply

    def _record(self, reply: LLMReply) -> None:
        """Append a request that reached the provider to the usage ledger (never raises)."""
        if reply.attempts <= 0 or reply.cached:
            return
        try:
            self.ledger.append(
                {
                    "stage": self.stage,
                    "backend": self.backend_name,
                    "model": self.model,
                    "template": reply.template,
                    "cache_key": reply.cache_key,
                    "key": reply.key,
                    "ok": reply.ok,
                    "error_code": reply.error_code,
                    "attempts": reply.attempts,
                    "input_tokens": reply.input_tokens,
                    "output_tokens": reply.output_tokens,
                    "cost_usd": round(reply.cost_usd, 8),
                }
            )
        except OSError as e:
            self.log.warning("llm: could not append to the usage ledger %s: %s", self.ledger.path, e)

    def _run_sync(self, unique: list[Prepared]) -> dict[str, LLMReply]:
        out: dict[str, LLMReply] = {}
        # preflight: the first request goes alone, so a bad key, model or URL stops the stage after one call
        first, rest = unique[0], unique[1:]
        out[first.cache_key] = self._sync_call(first)
        code = out[first.cache_key].error_code or ""
        if code in FATAL_CODES:
            if self.max_failed_share is not None:
                raise LLMStageError(self._fatal_message(code, out[first.cache_key].error or ""))
            for p in rest:  # library use: the same cause fails the rest, without sending them
                out[p.cache_key] = _fail(
                    code,
                    f"not sent: the first request of the run failed with {out[first.cache_key].error}",
                    cache_key=p.cache_key,
                    **self._base_reply(p.template, p.request),
                )
            return out
        if not rest:
            return out
        workers = max(1, min(int(self.cfg["max_concurrency"]), len(rest)))
        if workers == 1:
            for p in rest:
                out[p.cache_key] = self._sync_call(p)
            return out
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
            futures = {pool.submit(self._sync_call, p): p for p in rest}
            last = time.monotonic()
            for done, fut in enumerate(as_completed(futures), 1):
                p = futures[fut]
                try:
                    out[p.cache_key] = fut.result()
                except Exception as e:  # noqa: BLE001 - belt and braces: never raise for one request
                    out[p.cache_key] = _fail(
                        "unexpected", f"{type(e).__name__}: {e}", **self._base_reply(p.template, p.request)
                    )
                now = time.monotonic()
                if now - last >= 10:
                    last = now
                    self.log.info("llm %s: %d/%d calls done", self.model, done, len(unique))
        return out

    def _price(self, result: Result | CallError, *, batch: bool) -> float:
        c = cost_usd(self.prices, self.model, result.input_tokens, result.output_tokens, batch=batch)
        if c is None:
            if result.input_tokens or result.output_tokens:
                with self._warn_lock:
                    if not self._warned_unpriced:
                        self._warned_unpriced = True
                        self.log.warning("llm: no price for model %r in llm.prices; its cost counts as 0", self.model)
            return 0.0
        return c

    def _accept(self, prep: Prepared, result: Result) -> tuple[Any, CallError | None]:
        """(parsed data, None) for a usable reply, else (None, the reason)."""
        text = result.text
        kw = {"text": text, "input_tokens": result.input_tokens, "output_tokens": result.output_tokens}
        if result.refusal:
            return None, CallError("refusal", str(result.refusal)[:300], retryable=False, **kw)
        if prep.schema is None:
            if not text.strip():
                return None, CallError("empty_reply", f"finish_reason={result.finish_reason}", retryable=True, **kw)
            problem = _check(prep, text)
            if problem is not None:
                if looks_like_refusal(text):
                    return None, CallError("refusal", text.strip()[:300], retryable=False, **kw)
                if result.finish_reason in ("length", "max_tokens"):
                    problem += f" (reply cut at max_tokens={self.settings.max_tokens})"
                return None, CallError("unparsed_reply", problem, retryable=True, **kw)
            if prep.request.check is None and looks_like_refusal(text):
                return None, CallError("refusal", text.strip()[:300], retryable=False, **kw)
            return None, None
        try:
            return parse_json_reply(text, prep.schema), None
        except InvalidReply as e:
            if looks_like_refusal(text):
                return None, CallError("refusal", text.strip()[:300], retryable=False, **kw)
            detail = str(e)
            if result.finish_reason in ("length", "max_tokens"):
                detail += f" (reply cut at max_tokens={self.settings.max_tokens})"
            return None, CallError("invalid_json", detail, retryable=True, **kw)

    def _call_with_retries(
        self, prep: Prepared, *, prior: CallError | None = None, prior_attempts: int = 0
    ) -> LLMReply:
        base = {**self._base_reply(prep.template, prep.request), "cache_key": prep.cache_key}
        attempts = prior_attempts
        tokens_in = tokens_out = 0
        cost = 0.0
        last: CallError | None = prior
        last_text = prior.text if prior else ""
        rejected: list[dict[str, Any]] = []
        if prior is not None and prior.text:
            rejected.append(_rejected(max(prior_attempts, 1), prior))
        try:
            payload = self.backend.payload(prep)
        except Exception as e:  # noqa: BLE001 - unreadable image, bad variable: no call can help
            return _fail("payload_failed", f"{type(e).__name__}: {e}", attempts=attempts, **base)
        repair: list[dict[str, str]] = []
        if prior is not None and prior.code in ("invalid_json", "unparsed_reply") and prior.text:
            repair = self._repair_turns(prior, prep)
        while True:
            attempts += 1
            body = payload if not repair else {**payload, "messages": [*payload["messages"], *repair]}
            try:
                result = _redacted(self.backend.call(body))
            except CallError as err:
                last = err
            else:
                tokens_in += result.input_tokens
                tokens_out += result.output_tokens
                cost += self._price(result, batch=False)
                data, err = self._accept(prep, result)
                if err is None:
                    self._store(prep, result, via="sync")
                    return LLMReply(
                        ok=True,
                        text=secrets.redact(result.text),
                        data=data,
                        input_tokens=tokens_in,
                        output_tokens=tokens_out,
                        cost_usd=cost,
                        attempts=attempts,
                        rejected=tuple(rejected),
                        **base,
                    )
                last, last_text = err, result.text
                rejected.append(_rejected(attempts, err))
                if err.code in ("invalid_json", "unparsed_reply"):
                    repair = self._repair_turns(err, prep)
            assert last is not None
            if not last.retryable or attempts > self.policy.max_retries + prior_attempts:
                break
            if last.retry_after is not None and last.retry_after > self.policy.max_retry_after_s:
                last = CallError(
                    last.code,
                    f"{last.detail} (server asked to wait {last.retry_after:.0f}s > max_retry_after_s)",
                    retryable=False,
                )
                break
            time.sleep(self.policy.delay(attempts - prior_attempts, prep.cache_key, last.retry_after))
        assert last is not None
        if attempts > 1 and last.retryable:
            detail = f"{last.detail} (after {attempts} attempts)"
        else:
            detail = last.detail
        return LLMReply(
            ok=False,
            text=secrets.redact(last_text),
            error=secrets.redact(f"{last.code}: {detail}"),
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cost_usd=cost,
            attempts=attempts,
            rejected=tuple(rejected),
            **base,
        )

    @staticmethod
    def _repair_turns(err: CallError, prep: Prepared | None = None) -> list[dict[str, str]]:
        if err.code == "unparsed_reply":
            note = (prep.request.repair_note if prep is not None else None) or TEXT_REPAIR_NOTE
        else:
            note = JSON_REPAIR_NOTE
        return [
            {"role": "assistant", "content": err.text or "(empty)"},
            {"role": "user", "content": note.replace("{error}", err.detail)},
        ]

    # --- batch -------------------------------------------------------------------------

    def _state_path(self, batch_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in batch_id)
        return self.cache.batch_dir / f"{self.backend_name}-{safe}.json"

    def _write_state(self, state: Mapping[str, Any]) -> None:
        path = self._state_path(state["batch_id"])
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(state, sort_keys=True, indent=1) + "\n", encoding="utf-8")

    def _open_states(self) -> list[dict[str, Any]]:
        out = []
        d = self.cache.batch_dir
        if not d.is_dir():
            return out
        for path in sorted(d.glob(f"{self.backend_name}-*.json")):
            try:
                state = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.log.warning("llm batch: unreadable state file %s, ignored", path)
                continue
            if state.get("model") == self.model and state.get("status") != "done":
                out.append(state)
        return out

    def _batch_op(self, fn: Callable[[], Any], what: str) -> Any:
        """A batch-API call (submit, poll, download) with the client's retry policy."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as exc:  # classified below: retry or give up
                err = self.backend.classify(exc)
                if not err.retryable or attempt > self.policy.max_retries:
                    raise err from exc
                wait = self.policy.delay(attempt, what, err.retry_after)
                self.log.warning("llm batch: %s failed (%s), retrying in %.1fs", what, err.message, wait)
                time.sleep(wait)

    def _payloads(
        self, preps: Iterable[Prepared], out: dict[str, LLMReply]
    ) -> Iterator[tuple[Prepared, dict[str, Any]]]:
        """Request bodies built one at a time (images are read here), so only one chunk is in memory."""
        for p in preps:
            try:
                body = self.backend.payload(p)
            except Exception as e:  # noqa: BLE001 - unreadable image: this request fails, the others go
                out[p.cache_key] = LLMReply(
                    ok=False,
                    error=f"payload_failed: {type(e).__name__}: {e}",
                    cache_key=p.cache_key,
                    **self._base_reply(p.template, p.request),
                )
                continue
            yield p, body

    def _chunks(
        self, items: Iterable[tuple[Prepared, dict[str, Any]]]
    ) -> Iterator[list[tuple[Prepared, dict[str, Any]]]]:
        max_n = int(self.cfg["batch_max_requests"])
        max_bytes = int(self.cfg["batch_max_bytes"])
        chunk: list[tuple[Prepared, dict[str, Any]]] = []
        size = 0
        for prep, body in items:
            nbytes = len(json.dumps(body)) + 200
            if chunk and (len(chunk) >= max_n or size + nbytes > max_bytes):
                yield chunk
                chunk, size = [], 0
            chunk.append((prep, body))
            size += nbytes
        if chunk:
            yield chunk

    def _run_batch(self, unique: list[Prepared]) -> dict[str, LLMReply]:
        wanted = {p.cache_key: p for p in unique}
        out: dict[str, LLMReply] = {}
        failures: dict[str, CallError] = {}
        active = [s for s in self._open_states() if set(s["keys"]) & wanted.keys()]
        covered = {k for s in active for k in s["keys"]}
        if active:
            self.log.info(
                "llm batch: resuming %d submitted batch(es) covering %d request(s): %s",
                len(active),
                len(covered & wanted.keys()),
                ", ".join(s["batch_id"] for s in active),
            )
        todo = [p for p in unique if p.cache_key not in covered]
        for chunk in self._chunks(self._payloads(todo, out)):
            lines = [(p.cache_key, body) for p, body in chunk]
            try:
                handle = self._batch_op(lambda lines=lines: self.backend.batch_submit(lines), "batch submit")
            except CallError as err:
                self.log.warning("llm batch: submitting %d request(s) failed: %s", len(chunk), err.message)
                for p, _ in chunk:
                    failures[p.cache_key] = CallError("batch_submit_failed", err.message, retryable=True)
                continue
            schemas = {}
            key_schema = {}
            for p, _ in chunk:
                d = schema_digest(p.schema)
                key_schema[p.cache_key] = d
                if d is not None:
                    schemas[d] = p.schema
            state = {
                "backend": self.backend_name,
                "model": self.model,
                "status": "submitted",
                "keys": [p.cache_key for p, _ in chunk],
                "templates": {p.cache_key: p.template for p, _ in chunk},
                "images": {p.cache_key: list(p.image_hashes) for p, _ in chunk},
                "key_schema": key_schema,
                "schemas": schemas,
                **handle,
            }
            self._write_state(state)  # from here on a re-run resumes instead of resubmitting
            active.append(state)
            self.log.info("llm batch: submitted %s with %d request(s)", handle["batch_id"], len(chunk))

        deadline = time.monotonic() + float(self.cfg["batch_timeout_s"])
        pending = list(active)
        while pending:
            for state in list(pending):
                try:
                    finished, status = self._batch_op(lambda s=state: self.backend.batch_status(s), "batch poll")
                except CallError as err:
                    self.log.warning("llm batch: polling %s failed: %s", state["batch_id"], err.message)
                    continue
                state["provider_status"] = status
                if not finished:
                    continue
                self._collect_batch(state, wanted, out, failures)
                pending.remove(state)
            if pending:
                if time.monotonic() >= deadline:
                    break
                time.sleep(float(self.cfg["batch_poll_s"]))

        pending_keys = {k: s for s in pending for k in s["keys"]}
        for key, p in wanted.items():
            if key in out:
                continue
            base = {**self._base_reply(p.template, p.request), "cache_key": key}
            if key in pending_keys:
                s = pending_keys[key]
                out[key] = LLMReply(
                    ok=False,
                    error=(
                        f"batch_pending: batch {s['batch_id']} is {s.get('provider_status', s.get('status'))}; "
                        "re-run to resume polling"
                    ),
                    **base,
                )
                continue
            err = failures.get(key) or CallError(
                "batch_missing", "no result for this request in its batch", retryable=True
            )
            if err.retryable and self.cfg["batch_fallback_sync"]:
                out[key] = self._call_with_retries(p, prior=err, prior_attempts=1 if key in failures else 0)
                if err.input_tokens or err.output_tokens:
                    r = out[key]
                    out[key] = replace(
                        r,
                        input_tokens=r.input_tokens + err.input_tokens,
                        output_tokens=r.output_tokens + err.output_tokens,
                        cost_usd=r.cost_usd + self._price(err, batch=True),
                    )
            else:
                out[key] = LLMReply(
                    ok=False,
                    text=secrets.redact(err.text),
                    error=secrets.redact(err.message),
                    rejected=(_rejected(1, err),) if err.text else (),
                    attempts=1,
                    input_tokens=err.input_tokens,
                    output_tokens=err.output_tokens,
                    cost_usd=self._price(err, batch=True),
                    **base,
                )
        return out

    def _collect_batch(
        self,
        state: dict[str, Any],
        wanted: Mapping[str, Prepared],
        out: dict[str, LLMReply],
        failures: dict[str, CallError],
    ) -> None:
        """Read a finished batch: cache every usable result (also ones this run did not ask for)."""
        in_batch = set(state["keys"])
        n_ok = n_bad = 0
        try:
            items = self._batch_op(lambda: list(self.backend.batch_results(state)), "batch results")
        except CallError as err:
            self.log.warning("llm batch: reading results of %s failed: %s", state["batch_id"], err.message)
            items = []
        for cid, res in items:
            if cid not in in_batch:
                continue
            if isinstance(res, CallError):
                failures[cid] = res
                n_bad += 1
                continue
            res = _redacted(res)
            schema_d = state.get("key_schema", {}).get(cid)
            schema = state.get("schemas", {}).get(schema_d) if schema_d else None
            prep = wanted.get(cid)
            if prep is None:  # submitted by an earlier run for a request this run does not need
                prep = Prepared(
                    index=-1,
                    request=LLMRequest(template=state["templates"].get(cid, "")),
                    template=state["templates"].get(cid, ""),
                    system="",
                    user="",
                    image_paths=(),
                    image_hashes=tuple(state.get("images", {}).get(cid, ())),
                    schema=schema,
                    cache_key=cid,
                )
            data, err = self._accept(prep, res)
            cost = self._price(res, batch=True)
            if err is not None:
                failures[cid] = err
                n_bad += 1
                if cid not in wanted:
                    self.meter.add(
                        self.model,
                        calls=1,
                        attempts=1,
                        input_tokens=res.input_tokens,
                        output_tokens=res.output_tokens,
                        cost_usd=cost,
                    )
                continue
            self._store(prep, res, via="batch")
            n_ok += 1
            if cid in wanted:
                out[cid] = LLMReply(
                    ok=True,
                    text=res.text,
                    data=data,
                    input_tokens=res.input_tokens,
                    output_tokens=res.output_tokens,
                    cost_usd=cost,
                    attempts=1,
                    cache_key=cid,
                    **self._base_reply(prep.template, prep.request),
                )
            else:
                self.meter.add(
                    self.model,
                    calls=1,
                    attempts=1,
                    input_tokens=res.input_tokens,
                    output_tokens=res.output_tokens,
                    cost_usd=cost,
                )
        state["status"] = "done"
        state["result_counts"] = {"ok": n_ok, "failed": n_bad, "missing": len(in_batch) - n_ok - n_bad}
        self._write_state(state)
        self.log.info(
            "llm batch: %s finished (%s): %d ok, %d failed, %d missing",
            state["batch_id"],
            state.get("provider_status"),
            n_ok,
            n_bad,
            len(in_batch) - n_ok - n_bad,
        )

    # --- bookkeeping ---------------------------------------------------------------------

    def _account(self, replies: list[LLMReply]) -> None:
        counts = {
            "requests": len(replies),
            "calls": sum(1 for r in replies if r.attempts > 0 and not r.cached),
            "cached": sum(1 for r in replies if r.cached),
            "failed": sum(1 for r in replies if not r.ok),
            "attempts": sum(r.attempts for r in replies),
            "input_tokens": sum(r.input_tokens for r in replies),
            "output_tokens": sum(r.output_tokens for r in replies),
            "cost_usd": sum(r.cost_usd for r in replies),
        }
        if self.backend_name != "offline" and not self._priced():
            counts["unpriced_calls"] = counts["calls"]
        self.meter.add(self.model, **counts)

    def _priced(self) -> bool:
        return cost_usd(self.prices, self.model, 0, 0, batch=False) is not None

    def _log_summary(self, replies: list[LLMReply], n_called: int, seconds: float) -> None:
        failed = [r for r in replies if not r.ok]
        by_code: dict[str, int] = {}
        for r in failed:
            by_code[r.error_code or "?"] = by_code.get(r.error_code or "?", 0) + 1
        self.log.info(
            "llm %s/%s: %d request(s): %d from cache, %d sent, %d failed %s in %.1fs",
            self.backend_name,
            self.model,
            len(replies),
            sum(1 for r in replies if r.cached),
            n_called,
            len(failed),
            json.dumps(by_code, sort_keys=True) if by_code else "",
            seconds,
        )
        for r in failed[:20]:
            self.log.warning("llm failed [%s] %s: %s", r.key or r.cache_key[:12], r.template, r.error)
        if len(failed) > 20:
            self.log.warning("llm: %d more failures not listed", len(failed) - 20)
