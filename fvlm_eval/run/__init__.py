"""The writing wing: everything that writes a run folder, and nothing that reads one for a report.

``runner`` loops over benchmarks (``benchmark_run``: resume, decode once, ``asking`` every
formulation, write, summarise); ``folder`` holds an output folder's lock, settings and record
files; ``shards`` splits a run into shards and merges them; ``distributed`` runs shards as
torchrun ranks; ``options`` checks a run's arguments; ``manifest`` records what made the numbers.
Nothing here imports the reading wing (``fvlm_eval.reports``), nor does it import this one.
"""
