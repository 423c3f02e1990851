"""Link analysis kernels: call networks, investigator queries, fraud rings, scoring and exports."""
