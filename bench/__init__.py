"""The benchmark (`python bench/run.py`, see README.md), and the settings its HTTP server runs with."""
