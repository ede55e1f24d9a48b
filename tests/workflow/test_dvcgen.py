"""dvc.yaml is generated from the Snakefile: the committed one must match it."""

from __future__ import annotations

from pathlib import Path

from echo_bench.workflow import dvcgen


def test_committed_dvc_yaml_matches_the_snakefile(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    expected = dvcgen.render(dvcgen.build(dvcgen.load_rules()))
    assert (repo_root / "dvc.yaml").read_text(encoding="utf-8") == expected, (
        "dvc.yaml drifted from the Snakefile: run `make dvc-yaml`"
    )


def test_every_phase_declares_its_params_and_runs_only_its_rules(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    rules = dvcgen.load_rules()
    doc = dvcgen.build(rules)
    for phase in dvcgen.group_phases(rules):
        stage = doc["stages"][phase.name]
        names = [r.name for r in phase.rules]
        assert f"--allowed-rules {' '.join(names)} --" in stage["cmd"]
        declared = {p for r in phase.rules for p in r.params}
        assert set(stage.get("params", [])) == declared
        # every rule's stage module is a dependency of the stage that runs it
        for rule in phase.rules:
            assert f"src/echo_bench/stages/{rule.stage}.py" in stage["deps"]


def test_static_root_of_wildcard_outputs():
    assert dvcgen.static_root("data/generated/{split}/{model}/manifest.parquet") == "data/generated"
    assert dvcgen.static_root("data/interim/posts.parquet") == "data/interim/posts.parquet"
    assert dvcgen.static_root("{x}.txt") == "."


def test_module_closure_follows_package_imports(tmp_path: Path):
    pkg = tmp_path / "echo_bench"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from echo_bench.sub import b\nimport json\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from . import c\n")
    (pkg / "sub" / "c.py").write_text("import os\n")
    (pkg / "unused.py").write_text("")
    files = {Path(f).relative_to(tmp_path).as_posix() for f in dvcgen.module_closure("echo_bench.a", tmp_path)}
    assert files == {
        "echo_bench/__init__.py",
        "echo_bench/a.py",
        "echo_bench/sub/__init__.py",
        "echo_bench/sub/b.py",
        "echo_bench/sub/c.py",
    }
