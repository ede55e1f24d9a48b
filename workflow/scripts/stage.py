# Entry point of every `script:` rule: hands the rule's named inputs, outputs,
# declared params and log to the stage module named like the rule.
from echo_bench.runner import run_from_snakemake

run_from_snakemake(snakemake)  # noqa: F821  (injected by Snakemake)
