"""``echo-bench``: the command line around the pipeline.

    echo-bench stage NAME -i name=path -o name=path -p dotted.key   run one stage by hand
    echo-bench dvc-yaml [--check]                                    regenerate / check dvc.yaml
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
    print(f"echo-bench: unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
