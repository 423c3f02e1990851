"""Fusion assets: gold ``events``, ``entities``, ``entity_links`` and ``incident_context``."""
