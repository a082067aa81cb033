"""Export a trained model for serving and for devices (``asr export``).

- :mod:`~asr.export.exporter`: ``export_model``, what ``asr export`` runs.
- :mod:`~asr.export.saved_model`: the TF Serving SavedModel (PCM in, text out,
  greedy CTC decoding in-graph).
- :mod:`~asr.export.tflite`: builtins-only TFLite files, rebuilt in ``tf_keras``
  and quantised (``none``, ``float16``, ``dynamic``, ``int8``).
- :mod:`~asr.export.architecture`: the layers and weights read from a trained model.

Importing the package (or any of these modules) does not import TensorFlow.
"""
