"""Stage 3, data: the manifest contract (``manifest``), manifests turned into features
and labels (``splits``), length-bucketed batches and the ``tf.data`` pipeline
(``batching``), training-time augmentation (``augment``), other toolkits' corpora
(``importers``) and the synthetic corpora (``synth``)."""
