"""Video analytics: YOLO detections from camera video, geolocated into the lakehouse."""
