"""Video analytics assets: demo clips, YOLO detections, video events, their checks and the video sensor."""
