"""Ingestion assets: bronze raw records, silver canonical tables and their quarantine."""
