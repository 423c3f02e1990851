"""Anomaly kernels: count series, seasonal spike detection, entity features, scoring and reports."""
