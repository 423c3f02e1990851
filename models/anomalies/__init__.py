"""Entity anomaly models (Isolation Forest, ECOD), ONNX export, parity checks and serving (registry: models/registry.py)."""
