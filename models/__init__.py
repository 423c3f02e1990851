"""Estimators (scikit-learn shaped), their evaluation, export to ONNX, registry and serving."""
