"""The embedded sample: a seeded generator of a realistic raw post dump.

``write_dump(SampleConfig(...), path)`` writes Twitter API v2 search pages,
their media and the generator's ground truth (``truth.jsonl``,
``bad_records.jsonl``), so the pipeline runs offline on a fresh clone and its
stages can be checked against what the sample was made to contain.  Same
config, same bytes.
"""

from echo_bench.sample.config import KINDS, SampleConfig, allocate
from echo_bench.sample.dump import generate, write_dump
from echo_bench.sample.ids import snowflake, snowflake_ms

__all__ = ["KINDS", "SampleConfig", "allocate", "generate", "snowflake", "snowflake_ms", "write_dump"]
