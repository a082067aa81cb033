"""Training: the trainer (``trainer``), checkpoints and the run lock (``checkpoints``),
distribution strategies and their optimizers (``distribute``), learning curves (``curves``)."""
