"""Video analytics: YOLO detections from camera video, geolocated into the lakehouse.

One fixed sequence, each stage timed (``vision.predictor.Detector``):
``source`` (``vision.source``) -> ``preprocess`` (``vision.preprocess``) ->
``infer`` (``vision.onnx_model``, ONNX Runtime) -> ``postprocess``
(``vision.postprocess``) -> ``track`` (``vision.tracker``, ByteTrack) -> ``write``
(Arrow tables, ``vision.records``; foot points through ``vision.geo``).
Event kernels live in ``vision.events``, the cameras' calibration and sites in
``vision.cameras``, accuracy figures in ``vision.metrics``,
training/export/registration (torch, ultralytics) in ``vision.train``, the
synthetic dataset in ``vision.synthetic`` and the offline demo in ``vision.demo``.
Inference needs only onnxruntime, OpenCV (headless) and numpy; a small model
trained on the synthetic shapes is bundled (``data/vision/demo-yolo.onnx``, see
``data/vision/README.md``). The Dagster assets are in ``orchestration.vision``.
"""
