"""Versioned prompt templates, shipped as package data (``<name>.v<N>.md``).

A template file is YAML front matter followed by two sections::

    ---
    name: relevance
    version: v1
    reply: json            # json | text
    description: ...
    variables: [model_of_interest, post_text]
    defaults: {context: "(none)"}     # optional variables and their values
    reply_schema: {...}    # JSON Schema of the reply (json templates)
    ---
    <!-- system -->
    ...system prompt...
    <!-- user -->
    ...user prompt with {{ variable }} placeholders...

``{{ name }}`` placeholders are replaced by the request's variables: strings as
they are, numbers and booleans as JSON literals, lists and mappings as indented
JSON.  A placeholder with neither a value nor a default is an error.  Variables
whose name starts with ``_`` are never rendered (the LLM client hashes them into
the cache key, e.g. ``_repeat`` for repeated judge runs).

Templates are addressed as ``name`` (the highest version shipped) or
``name@v1`` (pinned).  Changing a template's wording means adding a new version
file: the version and the rendered text are part of every cache key, so old
replies are never reused for a new prompt.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

_FILE_RE = re.compile(r"^(?P<name>[a-z0-9_]+)\.v(?P<num>\d+)\.md$")
_PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SECTION_RE = re.compile(r"^<!--\s*(system|user)\s*-->\s*$", re.MULTILINE)


class TemplateError(ValueError):
    """A template is missing, malformed, or a variable it needs was not given."""


@dataclass(frozen=True)
class Rendered:
    """A template filled with a request's variables."""

    system: str
    user: str


@dataclass(frozen=True)
class Template:
    name: str
    version: str  # "v1"
    reply: str  # "json" | "text"
    system: str
    user: str
    variables: tuple[str, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    reply_schema: Mapping[str, Any] | None = None
    description: str = ""
    sha256: str = ""  # of the template file's bytes

    @property
    def ident(self) -> str:
        """``name@version``, the form written into replies, records and cache keys."""
        return f"{self.name}@{self.version}"

    def placeholders(self) -> set[str]:
        return set(_PLACEHOLDER_RE.findall(self.system)) | set(_PLACEHOLDER_RE.findall(self.user))

    def render(self, variables: Mapping[str, Any]) -> Rendered:
        values = {**self.defaults, **{k: v for k, v in variables.items() if not k.startswith("_")}}

        def sub(match: re.Match[str]) -> str:
            var = match.group(1)
            if var not in values:
                raise TemplateError(f"template {self.ident}: variable {var!r} not given")
            return format_value(values[var])

        return Rendered(
            system=_PLACEHOLDER_RE.sub(sub, self.system).strip(), user=_PLACEHOLDER_RE.sub(sub, self.user).strip()
        )


def format_value(value: Any) -> str:
    """How a variable's value appears in a rendered prompt."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _parse(filename: str, data: bytes) -> Template:
    m = _FILE_RE.match(filename)
    if not m:
        raise TemplateError(f"bad template file name {filename!r} (want <name>.v<N>.md)")
    text = data.decode("utf-8")
    if not text.startswith("---\n"):
        raise TemplateError(f"{filename}: no front matter")
    end = text.find("\n---\n", 4)
    if end < 0:
        raise TemplateError(f"{filename}: unterminated front matter")
    meta = yaml.safe_load(text[4:end]) or {}
    body = text[end + 5 :]
    parts = _SECTION_RE.split(body)
    # parts: [preamble, tag, text, tag, text, ...]
    sections = {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    if "user" not in sections:
        raise TemplateError(f"{filename}: no '<!-- user -->' section")
    name, version = m.group("name"), f"v{int(m.group('num'))}"
    if meta.get("name", name) != name or str(meta.get("version", version)) != version:
        raise TemplateError(f"{filename}: front matter name/version disagree with the file name")
    reply = meta.get("reply", "text")
    if reply not in ("json", "text"):
        raise TemplateError(f"{filename}: reply must be json or text, not {reply!r}")
    tpl = Template(
        name=name,
        version=version,
        reply=reply,
        system=sections.get("system", "").strip(),
        user=sections["user"].strip(),
        variables=tuple(meta.get("variables") or ()),
        defaults=dict(meta.get("defaults") or {}),
        reply_schema=meta.get("reply_schema"),
        description=str(meta.get("description", "")).strip(),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    unknown = tpl.placeholders() - set(tpl.variables) - set(tpl.defaults)
    if unknown:
        raise TemplateError(f"{filename}: placeholders {sorted(unknown)} are not declared as variables")
    if reply == "json" and not tpl.reply_schema:
        raise TemplateError(f"{filename}: a json template needs a reply_schema")
    return tpl


_EXTRA: dict[str, dict[int, Template]] = {}


@functools.cache
def _shipped() -> dict[str, dict[int, Template]]:
    out: dict[str, dict[int, Template]] = {}
    for entry in resources.files(__name__).iterdir():
        m = _FILE_RE.match(entry.name)
        if not m:
            continue
        tpl = _parse(entry.name, entry.read_bytes())
        out.setdefault(tpl.name, {})[int(m.group("num"))] = tpl
    return out


_MERGED: list[dict[str, dict[int, Template]]] = []  # the shipped + registered catalog, rebuilt on change


def _catalog() -> dict[str, dict[int, Template]]:
    if not _EXTRA:
        return _shipped()
    if not _MERGED:
        out = {name: dict(v) for name, v in _shipped().items()}
        for name, v in _EXTRA.items():
            out.setdefault(name, {}).update(v)
        _MERGED.append(out)
    return _MERGED[0]


def available() -> dict[str, list[str]]:
    """Template names and their versions, oldest first."""
    return {name: [f"v{n}" for n in sorted(v)] for name, v in sorted(_catalog().items())}


def load(spec: str) -> Template:
    """The template ``name`` (latest version) or ``name@vN`` (pinned)."""
    name, _, version = spec.partition("@")
    versions = _catalog().get(name)
    if not versions:
        raise TemplateError(f"no prompt template named {name!r} (have {sorted(_catalog())})")
    if not version:
        return versions[max(versions)]
    num = version.removeprefix("v")
    if not num.isdigit() or int(num) not in versions:
        raise TemplateError(f"template {name!r} has no version {version!r} (have {available()[name]})")
    return versions[int(num)]


def reply_schema(spec: str) -> Mapping[str, Any] | None:
    """The JSON Schema a template's reply must satisfy (None for free-text templates)."""
    return load(spec).reply_schema


def template_from_text(filename: str, text: str) -> Template:
    """Parse a template that is not shipped with the package (tests, experiments)."""
    return _parse(filename, text.encode("utf-8"))


def register(template: Template) -> None:
    """Make a template that is not shipped loadable by name (tests, experiments).

    A registered version shadows a shipped one of the same name and version.
    """
    _EXTRA.setdefault(template.name, {})[int(template.version[1:])] = template
    _MERGED.clear()


def unregister(spec: str) -> None:
    """Remove a registered template (``name`` removes all its registered versions)."""
    _MERGED.clear()
    name, _, version = spec.partition("@")
    if not version:
        _EXTRA.pop(name, None)
    elif name in _EXTRA:
        _EXTRA[name].pop(int(version.lstrip("v")), None)
        if not _EXTRA[name]:
            del _EXTRA[name]
