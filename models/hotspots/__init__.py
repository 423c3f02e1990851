"""Hotspot forecasters on an H3 grid: baselines, the learned model and the forecast entry point."""
