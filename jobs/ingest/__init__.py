"""Ingestion kernels: parse raw rows declared by a source spec into canonical tables plus rejects."""
