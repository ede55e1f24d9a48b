# What produced the results: package versions, git commit, params hash and the
# backends every stage used.  Rewritten by every run of the pipeline.  Beside
# it, the LLM usage of every stage (calls, cache hits, tokens, cost; prices from
# llm.prices) as a DVC metrics file.


rule provenance:
    input:
        summaries=[summary(stage) for stage in PROVENANCE_OF],
        judge_summaries=expand("results/stages/judge/{split}.json", split=SPLITS),
        params="params.yaml",
    output:
        record="results/provenance.json",
        metrics="results/metrics/llm_usage.json",
    log:
        log_of("provenance"),
    params:
        cfg={},
    script:
        STAGE_SCRIPT
