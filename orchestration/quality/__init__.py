"""Quality wiring between quality/ suites and Dagster asset checks."""
