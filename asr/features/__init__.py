"""Stage 2, features: librosa log-mel features with per-utterance normalisation and the
on-disk cache (``logmel``), and the same numbers in TensorFlow ops for export and
training (``graph``)."""
