"""The gateway benchmark behind `bench/gateway_bench.py` (`make bench`), one concern per module.

- settings: paths, the echoed payload, call timeout, targets and per-call block sizes;
- procs: CPU accounting from /proc and getrusage, and the served processes the benchmark starts;
- measure: configurations, timed blocks of sequential and concurrent calls, percentiles, interleaving;
- profiling: reading a gateway's cProfile stats and grouping them by package and layer;
- environment: the machine, versions and load the run is measured on;
- report: the Markdown section and the rewrite of its part of docs/benchmarks.md;
- main: the run itself and the command line.
"""
