# The embedded sample: a seeded, generated raw dump (Twitter API v2 pages with
# procedurally drawn images) so the whole pipeline runs offline on a fresh clone.


rule sample:
    output:
        dump=directory("data/raw/sample"),
        summary=summary("sample"),
    log:
        log_of("sample"),
    params:
        cfg=select("sample"),
    script:
        STAGE_SCRIPT
