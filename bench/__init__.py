"""credfix benchmarks: ratios against a floor or a peer measured in the same run.

Run with `python -m bench.run` (or `make bench`); see docs/performance.md.
"""
