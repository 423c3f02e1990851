"""Hotspot forecasting assets, the champion gate and the weekly forecast job."""
