"""Entity anomaly models (Isolation Forest, ECOD), ONNX export, parity checks, MLflow registry and serving."""
