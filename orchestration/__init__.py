"""crimefusion orchestration: the Dagster definitions, resources, per-domain assets and the CLI."""
