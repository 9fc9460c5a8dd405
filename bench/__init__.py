"""gpudnn's benchmark suites (pytest-benchmark) and their report: ``python -m bench.report``."""
