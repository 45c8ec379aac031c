"""YOLOv8 detectors: not yet defined (issue 12)."""
