"""Generation backends: how one model turns one benchmark sample into one image.

A backend is built from a model's entry in ``generate.models`` of params.yaml
(``{backend: <kind>, ...settings}``) by :func:`make_backend`; its
:meth:`Backend.generate` takes a :class:`GenRequest` (prompt, input images,
seed) and returns a :class:`GenResult` (image bytes or pixels, or the status and
reason why there is none).  It never raises for a per-sample problem: a
refusal, a timeout, an HTTP error or a missing imported file is a status with a
reason.  Configuration problems (unknown keys, a missing API key, diffusers not
installed) raise :class:`BackendConfigError` before anything is generated.

Kinds:

- ``control``: a known-answer control of :mod:`echo_bench.generate.controls`.
- ``openai``: the OpenAI Images API through the official SDK: ``images.generate``
  for text-to-image, ``images.edit`` with the sample's input images (multipart)
  for image-to-image.
- ``openai_compatible``: the same calls against any server that speaks the
  OpenAI Images API (``base_url`` required; ``api_key_env`` may be null).
- ``diffusers``: a local diffusers pipeline loaded from ``model_path`` (never from
  a hub: ``local_files_only``); diffusers is an optional extra, imported lazily.
- ``import``: outputs produced elsewhere, a folder of ``<sample_id>.png`` (or
  ``.jpg``/``.jpeg``/``.webp``) per split; a sample without a file is ``missing``.
"""

from __future__ import annotations

import base64
import io
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echo_bench.generate import controls as ctl
from echo_bench.generate.hygiene import ImageError, decode_rgb, encode_png

STATUSES = ("ok", "refused", "failed", "timeout", "missing")
KINDS = ("control", "openai", "openai_compatible", "diffusers", "import")

#: Codes of an OpenAI 400 that mean the provider refused the content (not a malformed request).
REFUSAL_CODES = ("content_policy_violation", "moderation_blocked", "content_filter", "safety_violation")
_REFUSAL_TEXT = re.compile(r"safety system|content policy|moderation|not allowed by our safety", re.I)

IMPORT_EXTS = (".png", ".jpg", ".jpeg", ".webp")


class BackendConfigError(ValueError):
    """A model entry that cannot run at all (raised before any sample is generated)."""


@dataclass
class GenRequest:
    split: str
    sample_id: str
    prompt: str
    input_paths: list[str]  # files to read (resolved against the repository root)
    input_sha256: list[str]  # content hashes of the input files, same order
    seed: int  # the sample's derived seed (controls.derive_seed)


@dataclass
class GenResult:
    status: str  # ok | refused | failed | timeout | missing
    reason: str | None = None
    image: bytes | np.ndarray | None = None  # encoded bytes (any format) or (H, W, 3) uint8 pixels
    latency_s: float | None = None
    cost_usd: float | None = 0.0
    seed: int | None = None  # the seed the backend used, None when it takes none
    info: dict[str, Any] = field(default_factory=dict)  # per-sample details for the manifest's settings

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown generation status {self.status!r}")


class Backend:
    """Base class: ``kind``, ``concurrency`` and the recorded ``settings``."""

    kind = "backend"
    concurrency = 1

    def settings(self) -> dict[str, Any]:
        """The generation settings recorded with every output (no secrets)."""
        return {}

    def cache_material(self, req: GenRequest) -> dict[str, Any] | None:
        """What determines this request's output (the response-cache key), or None: never cached."""
        return None

    def prepare(self) -> None:
        """Called once before the first uncached request (load a model, build a client)."""

    def generate(self, req: GenRequest) -> GenResult:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _check_keys(model: str, entry: Mapping[str, Any], known: Sequence[str]) -> None:
    unknown = sorted(set(entry) - set(known) - {"backend", "price_per_image"})
    if unknown:
        raise BackendConfigError(
            f"generate.models.{model}: unknown keys {unknown} for backend {entry.get('backend')!r} "
            f"(known: {sorted(set(known) | {'backend', 'price_per_image'})})"
        )


# --- control ------------------------------------------------------------------------------------------


class ControlBackend(Backend):
    kind = "control"

    def __init__(self, model: str, entry: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> None:
        _check_keys(model, entry, ["control", *ctl.DEFAULTS])
        self.control = str(entry.get("control", model))
        settings = {**(defaults or {}), **{k: v for k, v in entry.items() if k not in ("backend", "control", "price_per_image")}}
        try:
            self.params = ctl.control_settings(self.control, settings)
        except ValueError as e:
            raise BackendConfigError(f"generate.models.{model}: {e}") from e
        self.price = float(entry.get("price_per_image", 0.0) or 0.0)

    def settings(self) -> dict[str, Any]:
        used = {"identity": ["canvas_size", "canvas_color", "text_color"],
                "color_cast": ["canvas_size", "canvas_color", "text_color", "delta_lab", "gain", "calibrate"],
                "scramble": ["canvas_size", "canvas_color", "text_color", "block"],
                "typo": ["canvas_size", "canvas_color", "text_color", "cer"],
                "face_swap": ["canvas_size", "canvas_color", "text_color", "detector", "face_scale", "detect_max_side"]}
        return {"control": self.control, **{k: self.params[k] for k in used[self.control]}}

    def generate(self, req: GenRequest) -> GenResult:
        try:
            inputs = [decode_rgb(p) for p in req.input_paths[:1]]  # every control reads the first input only
        except (ImageError, OSError) as e:
            return GenResult("failed", f"input_unreadable: {e}", seed=req.seed)
        out = ctl.run_control(self.control, self.params, prompt=req.prompt, inputs=inputs, seed=req.seed)
        return GenResult("ok", image=out.image, latency_s=None, cost_usd=self.price, seed=req.seed, info=out.info)


# --- import ----------------------------------------------------------------------------------------------


class ImportBackend(Backend):
    """Outputs produced elsewhere: ``<path>/<split>/<sample_id>.<png|jpg|jpeg|webp>``.

    ``path`` may contain ``{split}`` to place the split elsewhere than a subfolder.
    A sample without a file is ``missing``; several files for one sample id
    (``a.png`` and ``a.jpg``) is ``failed`` (ambiguous); files whose name matches
    no sample are counted (:meth:`unmatched`) and logged, never used.
    """

    kind = "import"
    concurrency = 4

    def __init__(self, model: str, entry: Mapping[str, Any], split: str, root: str | os.PathLike[str] = ".") -> None:
        _check_keys(model, entry, ["path"])
        if not entry.get("path"):
            raise BackendConfigError(f"generate.models.{model}: backend import needs `path` (a folder with one subfolder per split)")
        self.path_param = str(entry["path"])
        folder = self.path_param.format(split=split) if "{split}" in self.path_param else str(Path(self.path_param) / split)
        self.folder = folder
        self.dir = Path(root) / folder if not Path(folder).is_absolute() else Path(folder)
        self.price = float(entry.get("price_per_image", 0.0) or 0.0)
        self.index: dict[str, list[Path]] = {}
        self.exists = self.dir.is_dir()
        if self.exists:
            for p in sorted(self.dir.iterdir()):
                if p.is_file() and p.suffix.lower() in IMPORT_EXTS and not p.name.startswith("."):
                    self.index.setdefault(p.stem, []).append(p)

    def settings(self) -> dict[str, Any]:
        return {"path": self.path_param, "folder": self.folder}

    def unmatched(self, sample_ids: set[str]) -> list[str]:
        return sorted(p.name for stem, ps in self.index.items() if stem not in sample_ids for p in ps)

    def generate(self, req: GenRequest) -> GenResult:
        if not self.exists:
            return GenResult("missing", f"import_folder_missing: {self.folder} does not exist", cost_usd=None)
        files = self.index.get(req.sample_id, [])
        if not files:
            exts = ",".join(e.lstrip(".") for e in IMPORT_EXTS)
            return GenResult("missing", f"no_file: no {req.sample_id}.{{{exts}}} in {self.folder}", cost_usd=None)
        if len(files) > 1:
            return GenResult("failed", f"ambiguous: several files for this sample: {', '.join(p.name for p in files)}",
                             cost_usd=None)
        try:
            data = files[0].read_bytes()
        except OSError as e:
            return GenResult("failed", f"unreadable: {files[0].name}: {e}", cost_usd=None)
        return GenResult("ok", image=data, cost_usd=self.price, info={"source_file": files[0].name})


# --- OpenAI Images (and compatible servers) ----------------------------------------------------------------

OPENAI_KEYS = ("model", "api_key_env", "base_url", "request", "timeout_s", "max_retries", "concurrency",
               "send_seed", "max_input_images", "input_format", "organization")


class OpenAIImagesBackend(Backend):
    """``images.generate`` / ``images.edit`` of the official ``openai`` SDK.

    Entry keys: ``model`` (the API model id), ``api_key_env`` (name of the env
    variable holding the key; null for an open compatible server), ``base_url``
    (required for ``openai_compatible``), ``request`` (extra request fields,
    passed verbatim: size, quality, background, output_format, moderation,
    style, response_format, ...), ``timeout_s``, ``max_retries`` (the SDK's
    retries of 408/409/429/5xx and connection errors), ``concurrency``,
    ``send_seed`` (add ``seed`` to the body, for servers that take one),
    ``max_input_images`` (edits get at most this many inputs, first first),
    ``input_format`` (``png``: inputs re-encoded as RGB PNG, lossless;
    ``original``: the stored bytes), ``price_per_image`` (USD).
    """

    def __init__(self, model: str, entry: Mapping[str, Any], call: Mapping[str, Any] | None = None,
                 *, kind: str = "openai", client: Any = None) -> None:
        _check_keys(model, entry, OPENAI_KEYS)
        cfg = {**(call or {}), **entry}
        self.kind = kind
        self.name = model
        self.model = cfg.get("model")
        if not self.model:
            raise BackendConfigError(f"generate.models.{model}: backend {kind} needs `model` (the API model id)")
        self.base_url = cfg.get("base_url")
        if kind == "openai_compatible" and not self.base_url:
            raise BackendConfigError(f"generate.models.{model}: backend openai_compatible needs `base_url`")
        self.api_key_env = cfg.get("api_key_env", "OPENAI_API_KEY" if kind == "openai" else None)
        self.organization = cfg.get("organization")
        self.request = dict(cfg.get("request") or {})
        for k in ("model", "prompt", "image", "n"):
            if k in self.request:
                raise BackendConfigError(f"generate.models.{model}.request: {k!r} is set by the backend")
        self.timeout_s = float(cfg.get("timeout_s", 300))
        self.max_retries = int(cfg.get("max_retries", 2))
        self.concurrency = max(1, int(cfg.get("concurrency", 4)))
        self.send_seed = bool(cfg.get("send_seed", False))
        self.max_input_images = int(cfg.get("max_input_images", 16))
        self.input_format = str(cfg.get("input_format", "png"))
        if self.input_format not in ("png", "original"):
            raise BackendConfigError(f"generate.models.{model}: input_format must be png or original")
        self.price = float(cfg.get("price_per_image", 0.0) or 0.0)
        self._client = client
        self._lock = threading.Lock()

    def settings(self) -> dict[str, Any]:
        out = {"api_model": self.model, "request": self.request, "send_seed": self.send_seed,
               "max_input_images": self.max_input_images, "input_format": self.input_format,
               "price_per_image": self.price, "api_key_env": self.api_key_env}
        if self.base_url:
            out["base_url"] = self.base_url
        return out

    def cache_material(self, req: GenRequest) -> dict[str, Any]:
        n = min(len(req.input_sha256), self.max_input_images)
        return {"kind": self.kind, "base_url": self.base_url, "model": self.model, "request": self.request,
                "prompt": req.prompt, "inputs": req.input_sha256[:n], "input_format": self.input_format,
                "seed": req.seed if self.send_seed else None}

    def prepare(self) -> None:
        self.client  # noqa: B018 - builds the client, raising a clear error when the key is missing

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import openai

                key = None
                if self.api_key_env:
                    key = os.environ.get(str(self.api_key_env))
                    if not key:
                        raise BackendConfigError(
                            f"generate.models.{self.name}: environment variable {self.api_key_env} is not set "
                            f"(api_key_env); outputs already in the response cache need no key"
                        )
                self._client = openai.OpenAI(api_key=key or "not-needed", base_url=self.base_url,
                                             organization=self.organization, timeout=self.timeout_s,
                                             max_retries=self.max_retries)
            return self._client

    def _input_file(self, path: str, sha: str) -> tuple[str, bytes, str]:
        if self.input_format == "png":
            return (f"{sha[:16]}.png", encode_png(decode_rgb(path)), "image/png")
        data = Path(path).read_bytes()
        ext = Path(path).suffix.lower().lstrip(".") or "png"
        mime = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp", "png": "image/png"}.get(ext, "application/octet-stream")
        return (f"{sha[:16]}.{ext}", data, mime)

    def generate(self, req: GenRequest) -> GenResult:
        import httpx
        import openai

        seed = req.seed if self.send_seed else None
        kwargs: dict[str, Any] = {"model": self.model, "prompt": req.prompt, **self.request}
        if self.send_seed:
            kwargs["extra_body"] = {"seed": req.seed}
        info: dict[str, Any] = {}
        n_in = min(len(req.input_paths), self.max_input_images)
        if len(req.input_paths) > n_in:
            info["inputs_dropped"] = len(req.input_paths) - n_in
        try:
            files = [self._input_file(p, s) for p, s in zip(req.input_paths[:n_in], req.input_sha256[:n_in], strict=True)]
        except (ImageError, OSError) as e:
            return GenResult("failed", f"input_unreadable: {e}", seed=seed, cost_usd=0.0)
        t0 = time.monotonic()
        try:
            if files:
                info["endpoint"] = "edits"
                resp = self.client.images.edit(image=files if len(files) > 1 else files[0], **kwargs)
            else:
                info["endpoint"] = "generations"
                resp = self.client.images.generate(**kwargs)
        except openai.APITimeoutError:
            return GenResult("timeout", f"timeout: no answer within {self.timeout_s:g}s "
                             f"({self.max_retries + 1} attempt(s))", latency_s=time.monotonic() - t0, seed=seed, info=info)
        except openai.BadRequestError as e:
            code, message = _error_code(e)
            if code in REFUSAL_CODES or _REFUSAL_TEXT.search(message or ""):
                return GenResult("refused", f"{code or 'refused'}: {message}", latency_s=time.monotonic() - t0,
                                 seed=seed, info=info)
            return GenResult("failed", f"http_400 {code or 'bad_request'}: {message}", latency_s=time.monotonic() - t0,
                             seed=seed, info=info)
        except openai.APIStatusError as e:
            code, message = _error_code(e)
            return GenResult("failed", f"http_{e.status_code} {code or 'error'}: {message}",
                             latency_s=time.monotonic() - t0, seed=seed, info=info)
        except openai.APIConnectionError as e:
            return GenResult("failed", f"connection: {e}", latency_s=time.monotonic() - t0, seed=seed, info=info)
        except (openai.APIError, ValueError) as e:  # e.g. a 200 whose body is not JSON
            return GenResult("failed", f"bad_response: {type(e).__name__}: {e}", latency_s=time.monotonic() - t0,
                             seed=seed, info=info)
        try:
            data = self._image_bytes(resp)
        except (ValueError, OSError, httpx.HTTPError) as e:
            return GenResult("failed", f"bad_response: {e}", latency_s=time.monotonic() - t0, seed=seed, info=info)
        latency = time.monotonic() - t0
        revised = getattr(resp.data[0], "revised_prompt", None)
        if revised:
            info["revised_prompt"] = revised
        return GenResult("ok", image=data, latency_s=latency, cost_usd=self.price, seed=seed, info=info)

    def _image_bytes(self, resp: Any) -> bytes:
        items = list(getattr(resp, "data", None) or [])
        if not items:
            raise ValueError("no image in the response")
        item = items[0]
        if getattr(item, "b64_json", None):
            try:
                return base64.b64decode(item.b64_json, validate=False)
            except ValueError as e:
                raise ValueError(f"b64_json does not decode: {e}") from e
        if getattr(item, "url", None):
            import httpx

            r = httpx.get(item.url, timeout=self.timeout_s, follow_redirects=True)
            r.raise_for_status()
            return r.content
        raise ValueError("the response item has neither b64_json nor url")


def _error_code(e: Any) -> tuple[str | None, str]:
    body = getattr(e, "body", None)
    err = body.get("error", body) if isinstance(body, dict) else {}
    err = err if isinstance(err, dict) else {}
    code = getattr(e, "code", None) or err.get("code") or err.get("type")
    message = err.get("message") or getattr(e, "message", None) or str(e)
    return (str(code) if code else None), str(message)


# --- diffusers ----------------------------------------------------------------------------------------------

DIFFUSERS_KEYS = ("model_path", "pipeline", "torch_dtype", "device", "call", "multi_image")


class DiffusersBackend(Backend):
    """A local diffusers pipeline, loaded from ``model_path`` only (``local_files_only``).

    ``pipeline``: ``auto`` (AutoPipelineForText2Image, and AutoPipelineForImage2Image
    from the same components for samples with input images) or the name of a
    diffusers pipeline class (e.g. ``FluxKontextPipeline``), called with
    ``image=`` when the sample has inputs.  ``torch_dtype`` (float16, bfloat16,
    float32), ``device`` (auto: cuda when available), ``call`` (extra call
    arguments: num_inference_steps, guidance_scale, height, width, ...),
    ``multi_image`` (``first``: the first input only; ``list``: all inputs).
    Each sample's torch Generator is seeded with its derived seed.
    """

    kind = "diffusers"
    concurrency = 1

    def __init__(self, model: str, entry: Mapping[str, Any]) -> None:
        _check_keys(model, entry, DIFFUSERS_KEYS)
        try:
            import diffusers  # noqa: F401
        except ImportError as e:
            raise BackendConfigError(
                f"generate.models.{model}: backend diffusers needs the optional extra: "
                f"pip install 'echo-bench[diffusers]' (diffusers, transformers, accelerate); import failed: {e}"
            ) from e
        path = entry.get("model_path")
        if not path or not Path(str(path)).exists():
            raise BackendConfigError(f"generate.models.{model}: model_path {path!r} is not a local folder "
                                     "(diffusers models are loaded from a local path, never downloaded)")
        self.name = model
        self.model_path = str(path)
        self.pipeline = str(entry.get("pipeline", "auto"))
        self.torch_dtype = str(entry.get("torch_dtype", "float32"))
        self.device = str(entry.get("device", "auto"))
        self.call = dict(entry.get("call") or {})
        self.multi_image = str(entry.get("multi_image", "first"))
        if self.multi_image not in ("first", "list"):
            raise BackendConfigError(f"generate.models.{model}: multi_image must be first or list")
        self.price = float(entry.get("price_per_image", 0.0) or 0.0)
        self._pipes: dict[str, Any] = {}
        self._lock = threading.Lock()

    def settings(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "pipeline": self.pipeline, "torch_dtype": self.torch_dtype,
                "call": self.call, "multi_image": self.multi_image}

    def cache_material(self, req: GenRequest) -> dict[str, Any]:
        fingerprint = None
        index = Path(self.model_path) / "model_index.json"
        if index.is_file():
            from echo_bench.io import sha256_file

            fingerprint = sha256_file(index)
        return {"kind": self.kind, "model_path": self.model_path, "model_index": fingerprint, "pipeline": self.pipeline,
                "torch_dtype": self.torch_dtype, "call": self.call, "multi_image": self.multi_image,
                "prompt": req.prompt, "inputs": req.input_sha256, "seed": req.seed}

    def _device(self) -> str:
        import torch

        if self.device != "auto":
            return self.device
        return "cuda" if torch.cuda.is_available() else "cpu"

    def _pipe(self, with_images: bool) -> Any:
        import diffusers
        import torch

        key = "i2i" if with_images else "t2i"
        with self._lock:
            if key in self._pipes:
                return self._pipes[key]
            dtype = getattr(torch, self.torch_dtype)
            kw = {"torch_dtype": dtype, "local_files_only": True}
            if self.pipeline == "auto":
                if "t2i" not in self._pipes:
                    self._pipes["t2i"] = diffusers.AutoPipelineForText2Image.from_pretrained(self.model_path, **kw)
                    self._setup(self._pipes["t2i"])
                if with_images:
                    self._pipes["i2i"] = diffusers.AutoPipelineForImage2Image.from_pipe(self._pipes["t2i"])
                    self._setup(self._pipes["i2i"])
            else:
                cls = getattr(diffusers, self.pipeline, None)
                if cls is None:
                    raise BackendConfigError(f"generate.models.{self.name}: diffusers has no pipeline class {self.pipeline!r}")
                pipe = cls.from_pretrained(self.model_path, **kw)
                self._setup(pipe)
                self._pipes["t2i"] = self._pipes["i2i"] = pipe
            return self._pipes[key]

    def _setup(self, pipe: Any) -> None:
        pipe.to(self._device())
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)

    def generate(self, req: GenRequest) -> GenResult:
        import torch
        from PIL import Image

        try:
            images = [Image.fromarray(decode_rgb(p)) for p in req.input_paths]
        except (ImageError, OSError) as e:
            return GenResult("failed", f"input_unreadable: {e}", seed=req.seed)
        pipe = self._pipe(bool(images))
        device = self._device()
        gen = torch.Generator(device=device).manual_seed(int(req.seed))
        kwargs = dict(self.call)
        if images:
            kwargs["image"] = images[0] if self.multi_image == "first" else images
        t0 = time.monotonic()
        try:
            out = pipe(prompt=req.prompt, generator=gen, **kwargs)
        except (RuntimeError, ValueError, TypeError) as e:  # OOM, bad sizes, unsupported arguments
            return GenResult("failed", f"pipeline_error: {type(e).__name__}: {e}", latency_s=time.monotonic() - t0,
                             seed=req.seed)
        latency = time.monotonic() - t0
        result = out.images[0] if hasattr(out, "images") else out[0][0]
        if not hasattr(result, "save"):
            result = Image.fromarray(np.asarray(result))
        buf = io.BytesIO()
        result.save(buf, format="PNG")
        return GenResult("ok", image=buf.getvalue(), latency_s=latency, cost_usd=self.price, seed=req.seed,
                         info={"device": device})


# --- factory ----------------------------------------------------------------------------------------------------


MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_model_name(model: str) -> None:
    if not MODEL_NAME.match(model):
        raise BackendConfigError(
            f"model name {model!r}: use letters, digits, '_' and '-' (it is a folder name and a params key)"
        )


def make_backend(
    model: str,
    entry: Mapping[str, Any],
    *,
    split: str,
    root: str | os.PathLike[str] = ".",
    call: Mapping[str, Any] | None = None,
    control_defaults: Mapping[str, Any] | None = None,
    client: Any = None,
) -> Backend:
    """The backend of ``generate.models.<model>``.

    ``call``: shared API settings (``generate.call``: timeout_s, max_retries,
    concurrency) that an entry may override; ``control_defaults``: shared control
    settings (``generate.controls``); ``client``: an OpenAI client to use instead of
    building one (tests).
    """
    check_model_name(model)
    if not isinstance(entry, Mapping):
        raise BackendConfigError(f"generate.models.{model}: expected a mapping with a `backend` key")
    kind = entry.get("backend")
    if kind == "control":
        return ControlBackend(model, entry, control_defaults)
    if kind in ("openai", "openai_compatible"):
        return OpenAIImagesBackend(model, entry, call, kind=kind, client=client)
    if kind == "diffusers":
        return DiffusersBackend(model, entry)
    if kind == "import":
        return ImportBackend(model, entry, split, root)
    raise BackendConfigError(f"generate.models.{model}: unknown backend {kind!r} (known: {', '.join(KINDS)})")
