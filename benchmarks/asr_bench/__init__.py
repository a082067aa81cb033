"""`asr bench`: training throughput against a PyTorch port of the same model, batch-1 speed
of every runtime, GFLOP/s against the CPU peak and feature-extraction speed. It lives outside
the ``asr`` library (it depends on it, never the other way round) and needs the ``bench`` extra
for its PyTorch and ONNX rows.

Rows (ids in ``rows.ROWS``):

* ``train.*`` — training throughput, audio seconds per wall second, of the
  recipe's architecture (``--config``) on this CPU: Keras's ``model.fit`` over
  ``asr.data.batching.training_dataset`` (the training path, augmentation off) against the
  same architecture in PyTorch (``asr_bench.torch_port``: same convs, ``nn.LSTM``
  bidirectional, CTC loss, Adam, per-weight gradient clipping), starting from
  the same initial weights, on the same batches in the same order, with the same
  thread count, alternating one pass of each per repeat. Batches are synthetic
  (random log-mels and labels of the recipe's shapes) unless ``--manifest``
  gives real utterances.
* ``rtf.*`` — batch 1, one thread, one clip (10 s by default): real-time factor
  (wall seconds per audio second) of the Keras model's traced call, the
  SavedModel, our TFLite float32 and int8 files, the file of Keras 3's own
  ``model.export(format="litert")``, ONNX Runtime on a tf2onnx conversion of the
  TFLite graph, and the PyTorch port; each with its max |Δ log-probability|
  against Keras.
* ``gflops.*`` — FLOPs of the run (``flops.count_flops``) per second of each float
  ``rtf`` row, against ``cpu.single_core_peak``.
* ``features.*`` — log-mel extraction, × real time, one thread: librosa
  (``asr.features.logmel.log_mel``) and the in-graph front end (``asr.features.graph``).

Each row is ``measured`` (median and spread over the repeats), ``skipped`` (an
optional dependency of the ``bench`` extra is missing) or ``failed`` (the tool
failed; the reason is its one-line error). The training rows and the one-thread
rows run in two spawned processes, because TensorFlow fixes its thread pools
when it starts.

Modules, one job each:

* ``runner`` — ``run_bench``: the two spawned processes, then the GFLOP/s rows and the goals;
* ``options`` — ``BenchOptions``, what is measured;
* ``rows`` — row ids, statuses, ``make_row``; ``measure`` — timing and parity against Keras;
* ``cpu`` — the machine and its single-core peak; ``flops`` — FLOP counts and the GFLOP/s rows;
* ``synthetic`` — the speech-like clip and the synthetic training utterances;
* ``training`` (section a) with ``torch_train`` (the PyTorch trainer) and ``torch_port`` (the model);
* ``runtimes`` (section b), ``features`` (section d), ``one_thread`` (the one-thread process's work);
* ``goals`` — the goals and their verdicts; ``report`` — ``results.json`` and ``RESULTS.md``.
"""
