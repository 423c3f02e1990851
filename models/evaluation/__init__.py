"""Hotspot forecast evaluation: hit rate, PAI, PEI, PEI* and the rolling-origin backtest."""
