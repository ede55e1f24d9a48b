# What produced the results: package versions, git commit, params hash and the
# backends every stage used.  Rewritten by every run of the pipeline.


rule provenance:
    input:
        summaries=[summary(stage) for stage in PROVENANCE_OF],
        params="params.yaml",
    output:
        record="results/provenance.json",
    log:
        log_of("provenance"),
    params:
        cfg={},
    script:
        STAGE_SCRIPT
