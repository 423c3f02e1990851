"""Dagster resources: one resource class per file, local and cluster implementations."""
