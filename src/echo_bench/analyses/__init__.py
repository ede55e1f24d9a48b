"""Stage 9, analyses: what the collected data says beyond the win rates.

* :mod:`~echo_bench.analyses.volume` -- posts per day after filtering, robust spike
  detection, spikes tied to named events;
* :mod:`~echo_bench.analyses.feedback` -- each community feedback item labelled
  failure / success / neutral with keywords (offline lexicon or an LLM), keyword
  frequencies, examples per keyword;
* :mod:`~echo_bench.analyses.wordcloud` -- a deterministic word-cloud layout
  (spiral placement with bounding-box collision tests);
* :mod:`~echo_bench.analyses.taxonomy` -- task categories of the prompts (keyword rules);
* :mod:`~echo_bench.analyses.compare` -- prompt statistics of ECHO against earlier
  benchmarks (length, first-bigram concentration, distinct-n, task shares);
* :mod:`~echo_bench.analyses.embed` / :mod:`~echo_bench.analyses.tsne` -- sentence
  embeddings (all-MiniLM-L6-v2 when installed, else hashed TF-IDF + SVD) and a
  seeded t-SNE map;
* :mod:`~echo_bench.analyses.latex` -- the paper's tables;
* :mod:`~echo_bench.analyses.plots` -- deterministic matplotlib output.

Every function takes plain data (polars frames, lists, dicts) and returns plain
data; the stage modules (``echo_bench.stages.analyses``, ``.paper``, ``.report``)
wire files to them.  The methods are documented in docs/analyses.md.
"""
