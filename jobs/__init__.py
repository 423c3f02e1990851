"""Pure compute kernels: Arrow tables and typed parameters in, Arrow out; no Dagster, no sessions, no I/O."""
