# The controls report: every metric and the judge panel against the known answers of
# the control models (zero for identity, largest for the target control, monotone in
# strength), with values, intervals and pass/fail.  results/controls/metrics.json is a
# DVC metrics file (`dvc metrics show`).


rule controls:
    input:
        table=rules.metric_tables.output.table,
        winrates=expand("results/judge/winrates_{split}.csv", split=SPLITS),
    output:
        report="results/controls/report.csv",
        report_json="results/controls/report.json",
        metrics="results/controls/metrics.json",
        summary=summary("controls"),
    log:
        log_of("controls"),
    params:
        cfg=select("controls", "generate.models"),
    script:
        STAGE_SCRIPT
