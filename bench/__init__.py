"""`make bench`: cold start, per-invocation overhead, call budget, memory and concurrency, measured.

Nothing is imported here on purpose: the measured children (`python -m bench.worker`,
`python -m bench.baseline`) import this package during their cold start.
"""
