"""Anomaly detection assets: count-series spikes, unusual phones and accounts, ONNX serving, report and alerts."""
