"""Helpers of the benchmark suite (``benchmarks/run.py``): measuring child processes, building
workloads, the S3 emulator, and the report."""
