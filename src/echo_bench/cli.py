"""``echo-bench``: the command line around the pipeline.

    echo-bench stage NAME -i name=path -o name=path -p dotted.key   run one stage by hand
    echo-bench dvc-yaml [--check]                                    regenerate / check dvc.yaml
    echo-bench evaluate --outputs DIR --name MODEL [--release data/release] [--out DIR]
                                                                     score a folder of outputs against a release
    echo-bench verify-release [DIR]                                  check a release's files against release.json
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "stage":
        from echo_bench.runner import main as stage_main

        stage_main(rest)
        return 0
    if command == "dvc-yaml":
        from echo_bench.workflow.dvcgen import main as dvcgen_main

        return dvcgen_main(rest)
    if command == "evaluate":
        return _evaluate(rest)
    if command == "verify-release":
        from echo_bench.release.loader import verify

        target = rest[0] if rest else "data/release"
        bad = verify(target)
        for rel in bad:
            print(f"mismatch: {rel}", file=sys.stderr)
        print(f"{target}: {'intact' if not bad else f'{len(bad)} files differ from release.json'}")
        return 1 if bad else 0
    print(f"echo-bench: unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


def _evaluate(argv: list[str]) -> int:
    import argparse
    import json
    import logging

    from echo_bench.release.evaluate import EvaluateError, evaluate

    ap = argparse.ArgumentParser(prog="echo-bench evaluate",
                                 description="A folder of a model's outputs -> its win rate and metrics vs a release "
                                             "(docs/evaluate.md)")
    ap.add_argument("--outputs", required=True, help="folder with <split>/<sample_id>.png (or .jpg/.jpeg/.webp)")
    ap.add_argument("--name", required=True, help="the model's name (letters, digits, _ and -)")
    ap.add_argument("--release", default="data/release", help="release folder (dvc pull / dvc get / dvc import)")
    ap.add_argument("--out", default=None, help="results folder (default results/evaluate/<name>)")
    ap.add_argument("--split", action="append", default=None, help="only this benchmark split (repeatable)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        summary = evaluate(a.release, a.outputs, a.name, a.out or f"results/evaluate/{a.name}", splits=a.split)
    except EvaluateError as e:
        print(f"echo-bench evaluate: {e}", file=sys.stderr)
        return 2
    short = {s: {k: v[k] for k in ("win_rate", "win_rate_ci", "rank", "models", "status", "metrics")}
             for s, v in summary["splits"].items()}
    print(json.dumps(short, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
