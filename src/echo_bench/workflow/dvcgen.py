"""Generate ``dvc.yaml`` from the Snakefile: one DVC stage per rules file.

Snakemake holds the DAG.  Each rules file under ``workflow/rules/`` is one phase
of the pipeline and becomes one DVC stage whose command runs Snakemake on that
phase's rules only (``--allowed-rules``), so DVC decides *whether* a phase runs
(from content hashes of deps, params and outs) and Snakemake decides *how*
(per-model, per-split, per-shard jobs, in parallel or on a cluster).

What each stage declares is read off the rules:
- ``outs``: the rules' outputs (a wildcard output is represented by the folder
  before its first wildcard); outputs under ``results/`` and ``paper/`` are
  small and kept in git (``cache: false``).  A rule's response cache is named
  by ``params: cache=...`` rather than as an output (Snakemake deletes outputs
  before a job runs); it becomes a ``persist`` out, versioned and pushed by DVC
  but never deleted before a run.
- ``deps``: the rules' inputs made by other phases (or by nobody: raw inputs),
  the rules file, and the source files of the stage modules the rules run,
  found by following their ``echo_bench`` imports.
- ``params``: the dotted keys of every rule's ``params: cfg=select(...)``.
- ``cmd``: Snakemake with ``--nolock``.  DVC locks the repository for the whole
  ``dvc repro`` and removes its lock even after a ``kill -9``; Snakemake's own
  lock (``.snakemake/locks``) would outlive a killed run and make the next
  ``dvc repro`` fail with ``LockException``.  Two Snakemake runs in one
  workspace outside DVC are the user's to avoid (``make sync`` runs alone).

``python -m echo_bench.workflow.dvcgen`` rewrites dvc.yaml; ``--check`` exits 1
when the committed dvc.yaml differs from what the Snakefile implies (a test
runs it, so the two can never drift).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

PACKAGE = "echo_bench"
RULES_DIR = PurePosixPath("workflow/rules")
STAGE_SCRIPT = "workflow/scripts/stage.py"
PROFILE = "workflow/profiles/default"
CACHE_PREFIX = "data/cache/"
GIT_KEPT_PREFIXES = ("results/", "paper/")
HEADER = "# Generated from the Snakefile by `python -m echo_bench.workflow.dvcgen`; do not edit by hand.\n"


@dataclass
class Rule:
    name: str
    phase: str
    inputs: list[str]
    outputs: dict[str, str]
    params: list[str]
    cache: str | None = None  # a response cache folder the rule keeps between runs
    stage: str = ""  # the stage module the rule runs (the rule name unless params: stage=...)


@dataclass
class Phase:
    name: str
    rules: list[Rule] = field(default_factory=list)


def static_root(pattern: str) -> str:
    """The path a (possibly wildcarded) pattern lives under: the folder before its first wildcard."""
    if "{" not in pattern:
        return pattern.rstrip("/")
    head = pattern.split("{", 1)[0]
    return head.rsplit("/", 1)[0] if "/" in head else "."


def load_rules(snakefile: str | Path = "Snakefile", root: Path = Path(".")) -> list[Rule]:
    """The rules of the workflow, with their rules file, in definition order."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings

    root = root.resolve()
    rules: list[Rule] = []
    with contextlib.redirect_stdout(io.StringIO()), SnakemakeApi(OutputSettings(quiet={"all"})) as api:  # type: ignore[arg-type]
        wf = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(),
            storage_settings=StorageSettings(),
            snakefile=Path(snakefile),
            workdir=root,
        )
        for rule in wf._workflow.rules:
            rules_file = PurePosixPath(Path(rule.snakefile).resolve().relative_to(root).as_posix())
            if rules_file.parent != RULES_DIR:
                continue  # the Snakefile's own target rules (all)
            cfg = rule.params.get("cfg", {}) if hasattr(rule.params, "get") else {}
            cache = rule.params.get("cache") if hasattr(rule.params, "get") else None
            rules.append(
                Rule(
                    name=rule.name,
                    phase=rules_file.stem,
                    inputs=[str(f) for f in rule.input if not _is_function(f)],
                    outputs={name: str(rule.output[i]) for i, name in _named(rule.output)},
                    params=sorted(cfg) if isinstance(cfg, dict) else [],
                    cache=static_root(str(cache)) if cache else None,
                    stage=str(rule.params.get("stage", rule.name)) if hasattr(rule.params, "get") else rule.name,
                )
            )
    return rules


def _is_function(item) -> bool:
    """Input functions (and unpack()ed ones) are resolved per job; their files are declared elsewhere."""
    from snakemake.io import is_callable

    return callable(item) or is_callable(item)


def _named(files) -> Iterable[tuple[int, str]]:
    names = {}
    for name, (start, _end) in files._names.items():
        names[start] = name
    for i in range(len(files)):
        yield i, names.get(i, f"out{i}")


def group_phases(rules: list[Rule]) -> list[Phase]:
    phases: dict[str, Phase] = {}
    for rule in rules:
        phases.setdefault(rule.phase, Phase(rule.phase)).rules.append(rule)
    return list(phases.values())


def module_closure(module: str, src: Path) -> set[str]:
    """Source files of ``module`` and every ``echo_bench`` module it imports, transitively."""
    seen: set[str] = set()
    files: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name, src)
        if path is None:
            continue
        files.add(path.as_posix())
        parts = name.split(".")
        for i in range(1, len(parts)):  # parent packages run their __init__ too
            todo.append(".".join(parts[:i]))
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, name, is_pkg)
                if base.split(".")[0] != PACKAGE:
                    continue
                todo.append(base)
                todo += [f"{base}.{a.name}" for a in node.names]  # submodules imported by name
    return files


def _absolute(node: ast.ImportFrom, current: str, is_pkg: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = current.split(".")
    base = parts if is_pkg else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _module_file(name: str, src: Path) -> Path | None:
    rel = Path(*name.split("."))
    for candidate in (src / rel.with_suffix(".py"), src / rel / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def build(rules: list[Rule], src: Path = Path("src")) -> dict:
    phases = group_phases(rules)
    producer: dict[str, str] = {}  # out path -> phase
    for phase in phases:
        for rule in phase.rules:
            for out in rule.outputs.values():
                producer[static_root(out)] = phase.name

    def owner(path: str) -> tuple[str | None, str]:
        root = static_root(path)
        for out, phase in producer.items():
            if root == out or root.startswith(out.rstrip("/") + "/"):
                return phase, out
        return None, root

    stages: dict[str, dict] = {}
    metrics: list[str] = []
    plots: list[str] = []
    for phase in phases:
        own_outs: list[str] = []
        targets: list[str] = []
        for rule in phase.rules:
            for name, out in rule.outputs.items():
                root = static_root(out)
                if root not in own_outs:
                    own_outs.append(root)
                if "{" not in out:
                    targets.append(out)
                if name == "metrics" and "{" not in out:
                    metrics.append(out)
                if name.startswith("plot") and "{" not in out:
                    plots.append(out)
            if rule.cache and rule.cache not in own_outs:
                own_outs.append(rule.cache)
        own_outs = _outermost(own_outs)
        deps: set[str] = {(RULES_DIR / f"{phase.name}.smk").as_posix(), STAGE_SCRIPT}
        code: set[str] = set()
        for rule in phase.rules:
            code |= module_closure(f"{PACKAGE}.stages.{rule.stage or rule.name}", src)
            code |= module_closure(f"{PACKAGE}.runner", src)
            for inp in rule.inputs:
                made_by, path = owner(inp)
                if made_by == phase.name:
                    continue
                deps.add(path)
        if any(f.startswith(f"{src.as_posix()}/{PACKAGE}/llm/") for f in code):
            deps.add(f"{src.as_posix()}/{PACKAGE}/prompts")
        params = sorted({p for rule in phase.rules for p in rule.params})
        rule_names = " ".join(r.name for r in phase.rules)
        stage: dict = {
            # --nolock: DVC's own lock (.dvc/tmp/rwlock) already guards the outputs, and it is cleaned
            # after a kill; Snakemake's .snakemake/locks would survive a kill -9 and block the next run
            "cmd": f"snakemake --profile {PROFILE} --nolock --allowed-rules {rule_names} -- {' '.join(targets)}",
            "deps": sorted(deps | code),
        }
        if params:
            stage["params"] = params
        stage["outs"] = [_out(o) for o in own_outs]
        stages[phase.name] = stage
    doc: dict = {"stages": stages}
    if metrics:
        doc["metrics"] = metrics
    if plots:
        doc["plots"] = plots
    return doc


def _outermost(paths: list[str]) -> list[str]:
    """Drop outputs that lie inside another output (DVC tracks the enclosing folder)."""
    return [p for p in paths if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in paths)]


def _out(path: str) -> str | dict:
    if path.startswith(GIT_KEPT_PREFIXES):
        return {path: {"cache": False}}
    if path.startswith(CACHE_PREFIX):
        return {path: {"persist": True}}
    return path


def render(doc: dict) -> str:
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml differs from the Snakefile")
    ap.add_argument("--output", default="dvc.yaml")
    args = ap.parse_args(argv)
    text = render(build(load_rules()))
    out = Path(args.output)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            sys.stderr.write(f"{out} is out of date with the Snakefile: run python -m echo_bench.workflow.dvcgen\n")
            return 1
        return 0
    from echo_bench.io import write_text

    write_text(out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
