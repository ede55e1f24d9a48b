"""Curation: relevance -> extraction -> multimodal processing -> finalize -> splits.

Each step is a domain module with plain data in and out, and two ways to make
its decisions: a real LLM/VLM through :mod:`echo_bench.llm`, or the ``offline``
backend, whose replies come from the deterministic, documented heuristics of
this package (docs/curation.md lists every rule).  Every artifact names the
backend that produced it in its ``producer`` column.

* :mod:`.relevance` -- 1-5 relevance of the queried posts, threads to keep.
* :mod:`.extract` -- samples of a reply tree: prompt, image posts, quality, feedback.
* :mod:`.multimodal` -- image roles, duplicates, blanks, screenshots and composites.
* :mod:`.finalize` -- Benchmark / Manual Review / Discard, near-duplicates, the splits.
* :mod:`.heuristics` -- the word lists and text rules the offline backends share.
* :mod:`.pixels` -- pixel-level rules (perceptual hashes, seams, screenshot layout).
* :mod:`.tables` -- the schemas of the curation tables.
* :mod:`.agreement` -- agreement of the offline curation with a corpus' truth file.
"""
