"""Learning benchmark: does the online curriculum beat uniform sampling on a pathological SFT pool? (`python -m benchmarks.learning`)."""
