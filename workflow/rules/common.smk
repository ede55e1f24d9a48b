# Shared helpers of the rules files.  Every rule declares the dotted params.yaml
# keys it reads with `params: cfg=select(...)`; dvc.yaml is generated from these
# declarations (python -m echo_bench.workflow.dvcgen), so both tools track the
# same knobs.

from snakemake.utils import validate

from echo_bench.params import lookup

validate(config, "../schemas/params.schema.yaml")


def select(*keys):
    """The values of the dotted params keys a rule reads, keyed by the dotted name."""
    return {key: lookup(config, key) for key in keys}


def summary(stage):
    return f"results/stages/{stage}.json"


def log_of(stage):
    return f"logs/{stage}.log"


STAGE_SCRIPT = "../scripts/stage.py"
