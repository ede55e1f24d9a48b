# Stage 6, generate: every model under evaluation produces one output per
# benchmark sample.  One job per (split, model), so models run in parallel and
# on a cluster; an `import` model's folder is a tracked input.

from echo_bench.generate.run import rule_inputs

SPLITS = config["generate"]["splits"]
MODELS = list(config["generate"]["models"])
IMPORT_DIRS = sorted({p for s in SPLITS for m in MODELS for p in rule_inputs(config["generate"], s, m).values()})


wildcard_constraints:
    split="[A-Za-z0-9_.-]+",
    model="[A-Za-z0-9_.-]+",


def _uses_gpu(model):
    return 1 if config["generate"]["models"][model].get("backend") == "diffusers" else 0


rule generate:
    input:
        unpack(lambda w: rule_inputs(config["generate"], w.split, w.model)),
        samples="data/splits/{split}.parquet",
    output:
        manifest="data/generated/manifests/{split}/{model}.parquet",
        images=directory("data/generated/{split}/{model}"),
    log:
        "logs/generate/{split}/{model}.log",
    params:
        cfg=select("generate"),
        cache="data/cache/generate",
    resources:
        gpu=lambda w: _uses_gpu(w.model),
    script:
        STAGE_SCRIPT


rule generations:
    input:
        manifests=expand("data/generated/manifests/{split}/{model}.parquet", split=SPLITS, model=MODELS),
        imports=IMPORT_DIRS,
    output:
        generations="data/generated/generations.parquet",
        summary=summary("generate"),
    log:
        log_of("generate"),
    params:
        cfg={},
        stage="generate",
    script:
        STAGE_SCRIPT
