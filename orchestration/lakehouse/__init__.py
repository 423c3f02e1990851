"""Lakehouse reference layers (police districts and other boundaries)."""
