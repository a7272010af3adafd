"""Drive the pipeline from outside, as a user would: run jobs, produce records, read outputs.

Shared by the integration tests, `make demo` and the benchmarks under bench/.
"""
