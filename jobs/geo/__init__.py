"""Geospatial kernels: geolocation, H3 indexing and spatial joins on SedonaDB."""
