"""Ingest: raw post dumps -> one normalized posts table, a media manifest and a quarantine table.

Readers for Twitter API v2 pages (:mod:`.twitter_v2`), twscrape JSONL
(:mod:`.twscrape`) and snscrape JSONL (:mod:`.snscrape`) normalize posts
(:mod:`.normalize`); :mod:`.media` resolves, validates and stores their images,
:mod:`.fetch` downloads remote ones safely.  :func:`ingest_dumps` runs it all.
"""

from echo_bench.ingest.pipeline import FetchSettings, IngestResult, IngestSettings, ingest_dumps

__all__ = ["FetchSettings", "IngestResult", "IngestSettings", "ingest_dumps"]
