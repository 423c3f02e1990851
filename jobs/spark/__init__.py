"""Spark mode: the fusion kernels run per partition inside Spark tasks, SedonaDB in each task."""
