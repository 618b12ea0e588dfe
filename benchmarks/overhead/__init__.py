"""Overhead of the curriculum: training step time with and without it."""
