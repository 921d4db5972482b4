"""Benchmarks and reasoning tasks."""
