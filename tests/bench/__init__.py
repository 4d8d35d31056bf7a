"""Benchmarks and measurement scripts, each run on its own (see the README's table); two unit
tests reuse their fixtures and scoring."""
