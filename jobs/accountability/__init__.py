"""Accountability kernels: audits of what the served models do to places (patrol exposure per district)."""
