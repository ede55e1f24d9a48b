# Stage 1b, collect: the broad keyword query over the posts (words and date
# window in params), keeping the conversations of the posts that match.


rule collect:
    input:
        posts=rules.ingest.output.posts,
    output:
        queried="data/interim/queried.parquet",
        quarantine="data/interim/quarantine/collect.parquet",
        summary=summary("collect"),
    log:
        log_of("collect"),
    params:
        cfg=select("collect"),
    script:
        STAGE_SCRIPT
