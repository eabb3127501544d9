"""Benchmarks of the HTTP API against the real server (see bench/README.md)."""
