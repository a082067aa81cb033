"""The leaf every stage shares: errors, atomic file writes, progress bars, quieting
native libraries' start-up lines, and the ``.tflite`` file format. It imports nothing
else from ``asr``."""
