# Stage 8, the community-driven metrics: color shift, face identity, structure
# distance and OCR text accuracy, each only where it applies.  One job per
# split; these are the GPU rules (metrics.device: auto uses a GPU when present).

METRICS_GPU = 0 if config["metrics"]["device"] == "cpu" else 1


rule metrics:
    input:
        samples="data/splits/{split}.parquet",
        generations=rules.generations.output.generations,
    output:
        values="data/metrics/shards/{split}.parquet",
        table="data/metrics/shards/{split}.csv",
        applicability="data/metrics/applicability/{split}.parquet",
    log:
        "logs/metrics/{split}.log",
    params:
        cfg=select("metrics", "llm.prices"),
        cache="data/cache/llm/metrics",
    resources:
        gpu=METRICS_GPU,
    script:
        STAGE_SCRIPT


rule metric_tables:
    input:
        values=expand("data/metrics/shards/{split}.parquet", split=SPLITS),
    output:
        values="data/metrics/values.parquet",
        table="results/metrics/table.csv",
        table_json="results/metrics/table.json",
        summary=summary("metrics"),
    log:
        log_of("metrics"),
    params:
        cfg=select("metrics"),
        stage="metrics",
    script:
        STAGE_SCRIPT
