"""Geospatial fusion: one events table, entity resolution and per-incident context."""
