# Stage 1a, ingest: raw dumps (Twitter API v2 pages, twscrape or snscrape JSONL)
# -> one normalized posts table, a media manifest with a content-addressed media
# store, and a quarantine table of everything that could not be used.


rule ingest:
    input:
        dumps=[dump["path"] for dump in config["ingest"]["dumps"]],
    output:
        posts="data/interim/posts.parquet",
        media="data/interim/media.parquet",
        media_store=directory("data/media"),
        quarantine="data/interim/quarantine/ingest.parquet",
        summary=summary("ingest"),
    log:
        log_of("ingest"),
    params:
        cfg=select("ingest"),
    script:
        STAGE_SCRIPT
