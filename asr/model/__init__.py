"""Stage 4, model: the CTC acoustic model and its layers (``ctc``), and the loss
reduction across replicas its train step uses (``replicas``)."""
